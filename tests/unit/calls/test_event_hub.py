"""EventHub: bounded per-subscriber queues, drop-oldest with a count, sticky events, the end."""

from __future__ import annotations

import asyncio

import pytest

from mediaserver.calls.event_hub import EventHub
from mediaserver.session.call_events import event


def ev(n: int) -> dict[str, object]:
    return event("dtmf", "c1", digit=str(n % 10), n=n)


async def test_every_subscriber_gets_every_event_then_the_end() -> None:
    hub = EventHub("c1")
    subs = [hub.subscribe(), hub.subscribe()]
    for n in range(5):
        hub.publish(ev(n))
    hub.publish(event("session.closed", "c1", reason="requested"))
    hub.publish(ev(99))  # after the end: nobody gets it
    for sub in subs:
        got = [item async for item in sub]
        assert [item.get("n") for item in got] == [0, 1, 2, 3, 4, None]
        assert got[-1]["type"] == "session.closed"
    assert hub.subscribers == 0


async def test_full_queue_drops_oldest_and_says_how_many() -> None:
    drops: list[int] = []
    hub = EventHub("c1", limit=4, on_drop=lambda: drops.append(1))
    slow = hub.subscribe()
    for n in range(10):
        hub.publish(ev(n))
    first = await slow.get()
    assert first == {
        "type": "session.frames_dropped",
        "call_id": "c1",
        "count": 6,
        "reason": "slow_subscriber",
    }
    assert [(await slow.get() or {}).get("n") for _ in range(4)] == [6, 7, 8, 9]
    assert len(drops) == 6
    assert hub.dropped == 6
    # Caught up: later events arrive without another notice.
    hub.publish(ev(10))
    assert (await slow.get() or {}).get("n") == 10


async def test_a_waiting_subscriber_wakes_up() -> None:
    hub = EventHub("c1")
    sub = hub.subscribe()
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    hub.publish(ev(1))
    assert (await asyncio.wait_for(waiter, 1) or {}).get("n") == 1


async def test_sticky_events_reach_late_subscribers() -> None:
    hub = EventHub("c1")
    hub.publish(event("session.created", "c1"), sticky=True)
    hub.publish(ev(1))
    hub.publish(event("error", "c1", code="model_not_found"), sticky=True)
    late = hub.subscribe()
    hub.publish(ev(2))
    assert late.get_nowait() == event("session.created", "c1")
    assert (late.get_nowait() or {}).get("code") == "model_not_found"
    assert (late.get_nowait() or {}).get("n") == 2
    assert late.get_nowait() is None
    hub.publish(event("session.closed", "c1"))
    after = [item["type"] async for item in hub.subscribe()]
    assert after == ["session.created", "error", "session.closed"]


async def test_closing_a_subscription_unsubscribes() -> None:
    hub = EventHub("c1")
    sub = hub.subscribe()
    hub.publish(ev(1))
    sub.close()
    sub.close()
    assert hub.subscribers == 0
    hub.publish(ev(2))
    assert await sub.get() is None


def test_queue_limit_is_checked() -> None:
    with pytest.raises(ValueError, match=">= 2 events"):
        EventHub("c1", limit=1)
