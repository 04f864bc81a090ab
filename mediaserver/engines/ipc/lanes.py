"""The asyncio shell of `EngineQueue`: a worker's stream decodes, run in priority order.

    lanes = EngineLanes(executor, lanes=1)
    final = await lanes.run(JobKind.FINAL, stream.finish)
    partial = await lanes.run(JobKind.PARTIAL, stream.redecode, skip=stream.last)

A job runs on `executor` when a lane is free; `skip` (for partials that may be skipped) answers
a job that went stale while waiting, on the event loop, without touching the engine. A caller
cancelled while its job waits withdraws it; one cancelled while its job runs leaves the engine
to finish (a decode cannot be interrupted) and its result is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from mediaserver.engines.ipc.engine_queue import EngineQueue, Job, JobKind

R = TypeVar("R")
PARTIAL_MAX_WAIT_S = 0.3  # a partial this late is replaced by the next one, ~100 ms later
MAX_WAITING_FINALS = 24  # ~12 s of finals for faster-whisper base on two cores


@dataclass(slots=True)
class _Pending:
    fn: Callable[[], Any]
    skip: Callable[[], Any] | None
    future: asyncio.Future[Any]


class EngineLanes:
    def __init__(
        self,
        executor: Executor,
        lanes: int = 1,
        *,
        partial_max_wait_s: float = PARTIAL_MAX_WAIT_S,
        max_finals: int = MAX_WAITING_FINALS,
    ) -> None:
        self._executor = executor
        self._core: EngineQueue[_Pending] = EngineQueue(
            lanes, partial_max_wait_s=partial_max_wait_s, max_finals=max_finals
        )

    @property
    def skipped(self) -> int:
        """Partials answered without a decode since start."""
        return self._core.skipped

    def depth(self, kind: JobKind) -> int:
        return self._core.depth(kind)

    async def run(
        self, kind: JobKind, fn: Callable[[], R], *, skip: Callable[[], R] | None = None
    ) -> R:
        """`fn()` on a lane, in priority order; EngineOverloaded if too many finals wait."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        job = self._core.push(kind, _Pending(fn, skip, future), loop.time(), skippable=bool(skip))
        if skip is not None:
            loop.call_at(job.queued_at + self._core.partial_max_wait_s + 1e-3, self._pump)
        self._pump()
        try:
            return await future
        except asyncio.CancelledError:
            self._core.withdraw(job)
            raise

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job, skipped = self._core.take(loop.time())
            for stale in skipped:
                _settle(stale.payload.future, stale.payload.skip)
            if job is None:
                return
            done = loop.run_in_executor(self._executor, job.payload.fn)
            done.add_done_callback(lambda f, job=job: self._finished(job, f))  # type: ignore[misc]

    def _finished(self, job: Job[_Pending], done: asyncio.Future[Any]) -> None:
        self._core.done()
        future = job.payload.future
        if not future.done():
            if done.cancelled():
                future.cancel()
            elif (exc := done.exception()) is not None:
                future.set_exception(exc)
            else:
                future.set_result(done.result())
        elif not done.cancelled():
            done.exception()  # the caller left: retrieved so asyncio does not log it
        self._pump()


def _settle(future: asyncio.Future[Any], skip: Callable[[], Any] | None) -> None:
    if future.done() or skip is None:
        return
    try:
        future.set_result(skip())
    except Exception as exc:  # the stream's own error, for its caller
        future.set_exception(exc)
