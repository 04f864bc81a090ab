from __future__ import annotations

import asyncio

import pytest

from mediaserver.engines.errors import QueueFullError
from mediaserver.engines.supervision.scheduler import Priority, Scheduler, SlotQueue
from mediaserver.observability import Metrics

RT, BATCH = Priority.REALTIME, Priority.BATCH


def test_grants_up_to_capacity_then_queues() -> None:
    q: SlotQueue[str] = SlotQueue("m", capacity=2, max_queued=4)
    assert q.offer("a", BATCH)
    assert q.offer("b", BATCH)
    assert not q.offer("c", BATCH)
    assert q.busy == 2
    assert q.depth() == 1


def test_realtime_overtakes_batch_and_each_class_is_fifo() -> None:
    q: SlotQueue[str] = SlotQueue("m", capacity=1, max_queued=4)
    assert q.offer("running", BATCH)
    for ticket, prio in [("b1", BATCH), ("r1", RT), ("b2", BATCH), ("r2", RT)]:
        assert not q.offer(ticket, prio)
    order = [q.release() for _ in range(4)]
    assert order == ["r1", "r2", "b1", "b2"]
    assert q.release() is None
    assert q.busy == 0


def test_waiting_tickets_do_not_lose_their_turn_to_a_newcomer() -> None:
    q: SlotQueue[str] = SlotQueue("m", capacity=1, max_queued=4)
    q.offer("a", BATCH)
    q.offer("b", BATCH)
    assert q.release() == "b"  # the slot passes on; busy stays 1
    assert not q.offer("c", RT)  # the slot is taken even though nobody else waits now
    assert q.busy == 1


def test_full_queue_is_refused_with_a_retry_hint() -> None:
    q: SlotQueue[str] = SlotQueue("m", capacity=1, max_queued=1)
    q.offer("a", BATCH)
    q.offer("b", BATCH)
    q.record_service(4.0)
    with pytest.raises(QueueFullError) as info:
        q.offer("c", BATCH)
    assert info.value.model == "m"
    assert info.value.retry_after_s >= 1.0
    assert info.value.retryable
    assert q.offer("r", RT) is False  # the realtime class has its own bound
    assert q.depth(BATCH) == 1
    assert q.depth(RT) == 1


def test_retry_after_grows_with_service_time_and_depth() -> None:
    q: SlotQueue[int] = SlotQueue("m", capacity=1, max_queued=10)
    q.offer(0, BATCH)
    for i in range(1, 5):
        q.offer(i, BATCH)
    short = q.retry_after_s()
    for _ in range(20):
        q.record_service(10.0)
    assert q.retry_after_s() > short


def test_withdrawn_ticket_is_skipped() -> None:
    q: SlotQueue[str] = SlotQueue("m", capacity=1, max_queued=4)
    q.offer("a", BATCH)
    q.offer("b", BATCH)
    q.offer("c", BATCH)
    assert q.withdraw("b")
    assert not q.withdraw("b")
    assert q.depth() == 1
    assert q.release() == "c"


def test_bad_arguments_and_release_without_slot() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SlotQueue("m", capacity=0, max_queued=1)
    with pytest.raises(ValueError, match="max_queued"):
        SlotQueue("m", capacity=1, max_queued=-1)
    q: SlotQueue[str] = SlotQueue("m", capacity=1, max_queued=1)
    with pytest.raises(RuntimeError):
        q.release()


async def test_scheduler_serves_realtime_first_and_limits_concurrency() -> None:
    metrics = Metrics()
    sched = Scheduler("m", concurrency=1, max_queued=8, metrics=metrics)
    order: list[str] = []
    gate = asyncio.Event()

    async def job(name: str, prio: Priority) -> None:
        async with sched.slot(prio):
            order.append(name)
            if name == "first":
                await gate.wait()

    first = asyncio.create_task(job("first", BATCH))
    await asyncio.sleep(0)
    others = [asyncio.create_task(job(n, p)) for n, p in [("b", BATCH), ("r", RT)]]
    await asyncio.sleep(0)
    assert sched.busy == 1
    assert sched.depth() == 2
    depth = metrics.registry.get_sample_value(
        "mediaserver_scheduler_queue_depth", {"model": "m", "priority": "batch"}
    )
    assert depth == 1
    gate.set()
    await asyncio.gather(first, *others)
    assert order == ["first", "r", "b"]
    assert sched.busy == 0
    waits = metrics.registry.get_sample_value(
        "mediaserver_scheduler_queue_wait_seconds_count", {"priority": "batch"}
    )
    assert waits == 2


async def test_cancelled_waiter_gives_its_place_away() -> None:
    sched = Scheduler("m", concurrency=1, max_queued=8)
    hold = asyncio.Event()
    served: list[str] = []

    async def job(name: str) -> None:
        async with sched.slot(BATCH):
            served.append(name)
            if name == "holder":
                await hold.wait()

    holder = asyncio.create_task(job("holder"))
    await asyncio.sleep(0)
    doomed = asyncio.create_task(job("doomed"))
    after = asyncio.create_task(job("after"))
    await asyncio.sleep(0)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert sched.depth() == 1
    hold.set()
    await asyncio.gather(holder, after)
    assert served == ["holder", "after"]
    assert sched.busy == 0


async def test_full_scheduler_raises_at_once() -> None:
    sched = Scheduler("m", concurrency=1, max_queued=0)
    async with sched.slot(RT):
        with pytest.raises(QueueFullError):
            async with sched.slot(RT):
                pass
    assert sched.busy == 0
