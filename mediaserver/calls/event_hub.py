"""Fan-out of one call's events to its subscribers, none of whom can slow the call down.

Each subscriber has its own bounded queue. Publishing never waits: when a queue is full its
oldest event is dropped and counted, and the subscriber receives one `session.frames_dropped`
(with the count) before the next event it does get, so it knows where the gap is. The last
event of a call (`session.closed`) is never the one dropped, since the oldest goes first.

Every subscription starts with the call's sticky events: `session.created` and whatever else was
published as sticky (the `model_not_found` error): a subscriber that joins late, like a client
opening the events WebSocket after `POST /v1/calls`, still learns how the call started. It ends
after `session.closed`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Final

from mediaserver.session.call_events import EventDict, frames_dropped

DEFAULT_QUEUE_EVENTS: Final = 256
CLOSED_EVENT: Final = "session.closed"


class Subscription:
    """An async iterator of event dicts for one subscriber; `close()` unsubscribes."""

    def __init__(self, hub: EventHub, limit: int, on_drop: Callable[[], None] | None) -> None:
        self._hub = hub
        self._on_drop = on_drop
        self._queue: deque[EventDict] = deque()
        self._limit = limit
        self._dropped = 0
        self._wakeup = asyncio.Event()
        self._ended = False  # no more events will be queued
        self.delivered = 0
        self.dropped_total = 0

    def __aiter__(self) -> AsyncIterator[EventDict]:
        return self._events()

    async def _events(self) -> AsyncIterator[EventDict]:
        while True:
            item = await self.get()
            if item is None:
                return
            yield item

    async def get(self) -> EventDict | None:
        """The next event; None once the call is closed (or this subscription is) and drained."""
        while not self._queue:
            if self._ended:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        if self._dropped:
            count, self._dropped = self._dropped, 0
            return frames_dropped(self._hub.call_id, count)
        self.delivered += 1
        return self._queue.popleft()

    def get_nowait(self) -> EventDict | None:
        """The next queued event without waiting (None when none is queued)."""
        if not self._queue:
            return None
        if self._dropped:
            count, self._dropped = self._dropped, 0
            return frames_dropped(self._hub.call_id, count)
        self.delivered += 1
        return self._queue.popleft()

    def close(self) -> None:
        """Stop receiving; queued events are discarded. Idempotent."""
        self._queue.clear()
        self._dropped = 0
        self.finish()
        self._hub.discard(self)

    def put(self, item: EventDict) -> None:
        """Called by the hub; never blocks."""
        if self._ended:
            return
        if len(self._queue) >= self._limit:
            self._queue.popleft()
            self._dropped += 1
            self.dropped_total += 1
            if self._on_drop is not None:
                self._on_drop()
        self._queue.append(item)
        self._wakeup.set()

    def finish(self) -> None:
        self._ended = True
        self._wakeup.set()


class EventHub:
    """The subscribers of one call."""

    def __init__(
        self,
        call_id: str,
        *,
        limit: int = DEFAULT_QUEUE_EVENTS,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        if limit < 2:
            raise ValueError(f"a subscriber queue needs room for >= 2 events, got {limit}")
        self.call_id = call_id
        self.limit = limit
        self._on_drop = on_drop
        self._subscribers: list[Subscription] = []
        self._sticky: list[EventDict] = []
        self._closed: EventDict | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def dropped(self) -> int:
        return sum(s.dropped_total for s in self._subscribers)

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self.limit, self._on_drop)
        for item in self._sticky:
            sub.put(item)
        if self._closed is not None:
            sub.put(self._closed)
            sub.finish()
        else:
            self._subscribers.append(sub)
        return sub

    def publish(self, item: EventDict, *, sticky: bool = False) -> None:
        """Deliver `item` to every subscriber; `sticky` ones also to those who join later."""
        if self._closed is not None:
            return
        if sticky:
            self._sticky.append(item)
        for sub in self._subscribers:
            sub.put(item)
        if item["type"] == CLOSED_EVENT:
            self._closed = item
            for sub in self._subscribers:
                sub.finish()
            self._subscribers.clear()

    def discard(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
