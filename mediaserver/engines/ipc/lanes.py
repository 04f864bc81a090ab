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
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from mediaserver.engines.ipc.engine_queue import EngineQueue, Job, JobKind

R = TypeVar("R")
PARTIAL_MAX_WAIT_S = 0.3  # a partial this late is replaced by the next one, ~100 ms later
MAX_WAITING_FINALS = 24
# A final that would wait longer than this for the engine is refused with an overload error:
# past it, a caller would rather know now than read a transcript of what was said long ago.
MAX_FINAL_WAIT_S = 10.0


@dataclass(slots=True)
class _Pending:
    fn: Callable[[], Any]
    skip: Callable[[], Any] | None
    hurried: Callable[[], Any] | None
    future: asyncio.Future[Any]


class EngineLanes:
    def __init__(
        self,
        executor: Executor,
        lanes: int = 1,
        *,
        partial_max_wait_s: float = PARTIAL_MAX_WAIT_S,
        max_finals: int = MAX_WAITING_FINALS,
        max_final_wait_s: float = MAX_FINAL_WAIT_S,
    ) -> None:
        self._executor = executor
        self._core: EngineQueue[_Pending] = EngineQueue(
            lanes,
            partial_max_wait_s=partial_max_wait_s,
            max_finals=max_finals,
            max_final_wait_s=max_final_wait_s,
        )
        self.hurried = 0  # finals decoded greedily because others waited

    @property
    def skipped(self) -> int:
        """Partials answered without a decode since start."""
        return self._core.skipped

    def depth(self, kind: JobKind) -> int:
        return self._core.depth(kind)

    async def run(
        self,
        kind: JobKind,
        fn: Callable[[], R],
        *,
        skip: Callable[[], R] | None = None,
        hurried: Callable[[], R] | None = None,
    ) -> R:
        """`fn()` on a lane, in priority order (`hurried()` instead when it starts while other
        finals wait); EngineOverloaded if the finals already waiting would take too long."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        pending = _Pending(fn, skip, hurried, future)
        job = self._core.push(kind, pending, loop.time(), skippable=bool(skip))
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
            fn = job.payload.fn
            if job.payload.hurried is not None and self._core.depth(JobKind.FINAL):
                fn = job.payload.hurried  # a backlog of finals: each one cheaper
                self.hurried += 1
            done = loop.run_in_executor(self._executor, fn)
            done.add_done_callback(functools.partial(self._finished, job, loop.time()))

    def _finished(self, job: Job[_Pending], started: float, done: asyncio.Future[Any]) -> None:
        self._core.done(job, asyncio.get_running_loop().time() - started)
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
