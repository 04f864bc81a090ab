"""The order in which a worker's streams get the engine: finals first, stale partials skipped.

A worker serves many calls' streams, but the engine does one decode at a time well (CTranslate2
runs one `generate` at a time unless built with several workers, and on a small CPU two decodes
at once only share the cores). Left to arrival order, a call's final waits behind every partial
re-decode queued by the other calls, which is what made finals seconds late at four calls.

`EngineQueue` is the pure core (no asyncio, no clock: `now` is passed in); `EngineLanes`
(`mediaserver.engines.ipc.lanes`) runs it. Rules:
- a waiting final (a stream's `finish`) always starts before a waiting partial;
- a partial that has waited longer than `partial_max_wait_s` when a lane could take it is not
  decoded: the caller answers with the stream's previous hypothesis. Its call sends newer audio
  within ~100 ms, so what is skipped is a decode whose result would be late and soon replaced.
  Under load this thins partials out by itself, and only as much as needed;
- while finals wait, the next one starts in its cheaper form where the engine has one (the
  shell's choice; see `EngineLanes`);
- at most `max_finals` finals wait, and no more than `max_final_wait_s` of them (their count
  times the mean time a final took, over the lanes, is how long a new one would wait to
  start): one more is refused (`EngineOverloaded`)
  instead of letting every later final of every call fall further behind.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

T = TypeVar("T")
FINAL_EWMA_WEIGHT = 0.2


class JobKind(IntEnum):
    FINAL = 0
    PARTIAL = 1


class EngineOverloaded(Exception):
    """Too many finals are waiting for the engine; this one is refused."""


@dataclass(slots=True)
class Job(Generic[T]):
    kind: JobKind
    payload: T
    queued_at: float
    skippable: bool = True  # only partials of streams whose engine can skip a decode
    seq: int = field(default=0)


class EngineQueue(Generic[T]):
    def __init__(
        self,
        lanes: int,
        *,
        partial_max_wait_s: float,
        max_finals: int,
        max_final_wait_s: float = float("inf"),
    ) -> None:
        if lanes < 1:
            raise ValueError(f"lanes must be >= 1, got {lanes}")
        if max_finals < 1:
            raise ValueError(f"max_finals must be >= 1, got {max_finals}")
        self.lanes = lanes
        self.partial_max_wait_s = partial_max_wait_s
        self.max_finals = max_finals
        self.max_final_wait_s = max_final_wait_s
        self.final_s = 0.0  # mean time a final took (EWMA); 0 until one has run
        self.running = 0
        self._waiting: dict[JobKind, deque[Job[T]]] = {kind: deque() for kind in JobKind}
        self._seq = itertools.count()
        self.skipped = 0

    def depth(self, kind: JobKind) -> int:
        return len(self._waiting[kind])

    def push(self, kind: JobKind, payload: T, now: float, *, skippable: bool = True) -> Job[T]:
        """Queue a job (EngineOverloaded when it is a final and `max_finals` already wait)."""
        if kind is JobKind.FINAL:
            waiting = len(self._waiting[kind])
            if waiting >= self.max_finals:
                raise EngineOverloaded(f"{waiting} finals are already waiting for the engine")
            wait = waiting * self.final_s / self.lanes  # before this one can start
            if wait > self.max_final_wait_s:
                raise EngineOverloaded(f"finals waiting would take {wait:.1f} s to decode")
        job = Job(kind, payload, now, skippable, next(self._seq))
        self._waiting[kind].append(job)
        return job

    def withdraw(self, job: Job[T]) -> bool:
        """A waiting job is no longer wanted (its stream went away). False if not waiting."""
        try:
            self._waiting[job.kind].remove(job)
        except ValueError:
            return False
        return True

    def expire(self, now: float) -> list[Job[T]]:
        """The waiting partials that are stale now: the caller answers them without decoding.

        Called when a partial's wait runs out, not only when a lane frees: the call that sent
        it waits for the answer before it can hand over its own final.
        """
        partials = self._waiting[JobKind.PARTIAL]
        stale = [j for j in partials if j.skippable and now - j.queued_at > self.partial_max_wait_s]
        for job in stale:
            partials.remove(job)
        self.skipped += len(stale)
        return stale

    def take(self, now: float) -> tuple[Job[T] | None, list[Job[T]]]:
        """(the job a free lane runs now or None, partials skipped as stale).

        The caller answers the skipped ones without decoding and calls `done` when the job
        it runs ends.
        """
        skipped = self.expire(now)
        if self.running >= self.lanes:
            return None, skipped
        finals, partials = self._waiting[JobKind.FINAL], self._waiting[JobKind.PARTIAL]
        queue = finals or partials
        if not queue:
            return None, skipped
        self.running += 1
        return queue.popleft(), skipped

    def done(self, job: Job[T], seconds: float) -> None:
        """The job a lane ran ended after `seconds`."""
        if self.running == 0:
            raise RuntimeError("done without a running job")
        self.running -= 1
        if job.kind is JobKind.FINAL:
            weight = 1.0 if self.final_s == 0 else FINAL_EWMA_WEIGHT
            self.final_s += weight * (max(seconds, 0.0) - self.final_s)
