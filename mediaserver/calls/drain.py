"""Graceful drain on SIGTERM: stop taking calls, let the active ones finish, close the rest.

This is the only way calls are ended in bulk: SIGTERM (`mediaserver serve`), the server's
lifespan ending, and `CallManager.stop` all run it. Order: the call manager's ``draining`` flag
(the one flag: ``/ready`` answers 503 and new calls are refused with ``CallRefused(503)``) goes
up; active calls may run on until ``timeout_s``
after the signal; the calls still open then are closed (pending finals flushed,
``session.closed`` sent) concurrently, each on its own, so one call failing to close never holds
up or breaks another. The drain lasts at least ``grace_s`` in all, so that load balancers polling
``/ready`` see the 503 before the listening socket goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

log = structlog.get_logger("mediaserver.calls.drain")

CLOSE_REASON = "shutdown"


class DrainableCall(Protocol):
    """What the drain needs of a call (``mediaserver.calls.manager.Call`` has it)."""

    id: str

    @property
    def state(self) -> str: ...

    async def close(self, reason: str = ...) -> None: ...

    async def wait_closed(self) -> None: ...


class Drainable(Protocol):
    """What the drain needs of the call manager: the flag every refusal and `/ready` read,
    and the live calls."""

    draining: bool

    def calls(self) -> Sequence[DrainableCall]: ...


@dataclass(frozen=True, slots=True)
class DrainReport:
    finished: int  # calls that ended by themselves during the drain
    closed: int  # calls closed at the deadline
    failed: int  # calls whose close raised or timed out (logged with their id)


class Drainer:
    """Runs the drain once; `drain()` is idempotent (a second call awaits the first)."""

    def __init__(
        self,
        target: Drainable,
        *,
        timeout_s: float,
        grace_s: float = 0.0,
        close_timeout_s: float = 5.0,
    ) -> None:
        if timeout_s < 0 or grace_s < 0 or close_timeout_s <= 0:
            raise ValueError("drain timeouts must be >= 0 (close timeout > 0)")
        self._target = target
        self.timeout_s = timeout_s
        self.grace_s = grace_s
        self.close_timeout_s = close_timeout_s
        self._task: asyncio.Task[DrainReport] | None = None

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(
        self, *, wait: bool = True, close_timeout_s: float | None = None
    ) -> asyncio.Task[DrainReport]:
        """Raise the draining flag now and run the rest of the drain as a task.

        `wait=False` (the server stopping, not a SIGTERM): close every call at once, with no
        grace period. `close_timeout_s` overrides the bound on each call's close. A drain
        already under way is not restarted: its task is returned."""
        if self._task is None:
            self._target.draining = True
            calls = self._open_calls()
            timeout_s = self.timeout_s if wait else 0.0
            grace_s = self.grace_s if wait else 0.0
            log.info("server.drain_start", active_calls=len(calls), timeout_s=timeout_s)
            if close_timeout_s is not None:
                self.close_timeout_s = close_timeout_s
            self._task = asyncio.create_task(
                self._run(calls, timeout_s, grace_s), name="mediaserver-drain"
            )
        return self._task

    async def drain(
        self, *, wait: bool = True, close_timeout_s: float | None = None
    ) -> DrainReport:
        return await self.start(wait=wait, close_timeout_s=close_timeout_s)

    async def _run(
        self, calls: Sequence[DrainableCall], timeout_s: float, grace_s: float
    ) -> DrainReport:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _wait_all(calls, timeout_s)
        remaining = self._open_calls()
        failed = await self._close_all(remaining)
        # Keep answering (503 on /ready) until the load balancers have had time to look.
        await asyncio.sleep(max(started + grace_s - loop.time(), 0.0))
        report = DrainReport(
            finished=max(len(calls) - len(remaining), 0),
            closed=len(remaining) - failed,
            failed=failed,
        )
        log.info(
            "server.drain_done",
            finished=report.finished,
            closed=report.closed,
            failed=report.failed,
        )
        return report

    def _open_calls(self) -> list[DrainableCall]:
        return [call for call in self._target.calls() if call.state != "closed"]

    async def _close_all(self, calls: Sequence[DrainableCall]) -> int:
        results = await asyncio.gather(
            *(self._close_one(call) for call in calls), return_exceptions=True
        )
        return sum(1 for ok in results if ok is not True)

    async def _close_one(self, call: DrainableCall) -> bool:
        try:
            async with asyncio.timeout(self.close_timeout_s):
                await call.close(CLOSE_REASON)
        except Exception as exc:  # one call's failure must not stop the others closing
            log.warning("call.close_failed", call_id=call.id, error=type(exc).__name__)
            return False
        return True


async def _wait_all(calls: Sequence[DrainableCall], limit_s: float) -> None:
    if not calls or limit_s <= 0:
        return
    waiters = [asyncio.ensure_future(call.wait_closed()) for call in calls]
    try:
        await asyncio.wait(waiters, timeout=limit_s)
    finally:
        for waiter in waiters:
            waiter.cancel()
        # Collect the cancelled waiters (and any error they raised) so none is left dangling.
        await asyncio.gather(*waiters, return_exceptions=True)
