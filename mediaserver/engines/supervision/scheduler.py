"""Admission to a worker: realtime streams before batch jobs, bounded concurrency and queue.

`SlotQueue` is the pure core (no asyncio, no clock: durations are passed in); `Scheduler` is
its asyncio shell, one per worker. A request holds a slot while the worker serves it; when all
slots are busy it waits in a priority queue (realtime first, then arrival order). A full queue
is refused at once with `QueueFullError(retry_after_s)`, which the API turns into 503 +
Retry-After. Batch jobs can starve while realtime work keeps every slot busy: that is the
intended trade for a telephony server.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import IntEnum
from typing import Generic, TypeVar

from mediaserver.engines.errors import QueueFullError
from mediaserver.observability import Metrics

T = TypeVar("T")
EWMA_WEIGHT = 0.2
INITIAL_SERVICE_S = 1.0


class Priority(IntEnum):
    REALTIME = 0  # a live call's stream
    BATCH = 1  # a file upload, tolerant to delay


class SlotQueue(Generic[T]):
    """Slots and a priority queue of waiting tickets (pure: the caller owns the tickets)."""

    def __init__(self, name: str, capacity: int, max_queued: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if max_queued < 0:
            raise ValueError(f"max_queued must be >= 0, got {max_queued}")
        self.name = name
        self.capacity = capacity
        self.max_queued = max_queued
        self.busy = 0
        self._heap: list[tuple[int, int, T]] = []
        self._withdrawn: set[int] = set()
        self._seq_of: dict[int, int] = {}  # id(ticket) -> seq, for withdraw
        self._counter = itertools.count()
        self._depth = dict.fromkeys(Priority, 0)
        self.service_s = INITIAL_SERVICE_S

    def depth(self, priority: Priority | None = None) -> int:
        if priority is None:
            return sum(self._depth.values())
        return self._depth[priority]

    def retry_after_s(self) -> float:
        """A rough wait before the queue has room: queued work spread over the slots."""
        waits = (self.depth() + 1) * self.service_s / self.capacity
        return float(max(1, math.ceil(waits)))

    def offer(self, ticket: T, priority: Priority) -> bool:
        """True: the ticket holds a slot now. False: it waits. Raises QueueFullError."""
        if self.busy < self.capacity and self.depth() == 0:
            self.busy += 1
            return True
        if self._depth[priority] >= self.max_queued:
            raise QueueFullError(self.name, self.retry_after_s())
        seq = next(self._counter)
        heapq.heappush(self._heap, (int(priority), seq, ticket))
        self._seq_of[id(ticket)] = seq
        self._depth[priority] += 1
        return False

    def withdraw(self, ticket: T) -> bool:
        """A waiting ticket gives up (its caller was cancelled). False if it was not waiting."""
        seq = self._seq_of.pop(id(ticket), None)
        if seq is None:
            return False
        self._withdrawn.add(seq)
        for prio, s, _ in self._heap:
            if s == seq:
                self._depth[Priority(prio)] -= 1
                break
        return True

    def release(self) -> T | None:
        """A slot is free: hand it to the next waiting ticket (returned) or mark it idle."""
        while self._heap:
            prio, seq, ticket = heapq.heappop(self._heap)
            if seq in self._withdrawn:
                self._withdrawn.discard(seq)
                continue
            del self._seq_of[id(ticket)]
            self._depth[Priority(prio)] -= 1
            return ticket  # the slot passes on: busy is unchanged
        if self.busy == 0:
            raise RuntimeError("release without a held slot")
        self.busy -= 1
        return None

    def record_service(self, seconds: float) -> None:
        self.service_s += EWMA_WEIGHT * (max(seconds, 0.0) - self.service_s)


class Scheduler:
    """Per-worker admission: `async with scheduler.slot(Priority.REALTIME): ...`."""

    def __init__(
        self,
        name: str,
        concurrency: int,
        max_queued: int,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core: SlotQueue[asyncio.Future[None]] = SlotQueue(name, concurrency, max_queued)
        self._metrics = metrics
        self._clock = clock
        self.name = name

    @property
    def busy(self) -> int:
        return self._core.busy

    def depth(self, priority: Priority | None = None) -> int:
        return self._core.depth(priority)

    @asynccontextmanager
    async def slot(self, priority: Priority) -> AsyncIterator[None]:
        queued_at = self._clock()
        await self._acquire(priority)
        started = self._clock()
        if self._metrics is not None:
            self._metrics.scheduler_queue_wait.labels(priority.name.lower()).observe(
                started - queued_at
            )
        try:
            yield
        finally:
            self._core.record_service(self._clock() - started)
            self._release()

    async def _acquire(self, priority: Priority) -> None:
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._core.offer(ticket, priority):
            return
        self._update_gauges()
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release()  # granted just as we were cancelled: pass the slot on
            else:
                self._core.withdraw(ticket)
            raise
        finally:
            self._update_gauges()

    def _release(self) -> None:
        while (ticket := self._core.release()) is not None:
            if not ticket.done():
                ticket.set_result(None)
                return
            # A cancelled waiter that was not withdrawn yet: the slot goes to the next one.

    def _update_gauges(self) -> None:
        if self._metrics is None:
            return
        for p in Priority:
            self._metrics.scheduler_queue_depth.labels(self.name, p.name.lower()).set(
                self._core.depth(p)
            )
