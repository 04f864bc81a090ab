"""uvicorn's server with our signal semantics: the first SIGTERM/SIGINT drains, the second forces.

uvicorn's own handler stops accepting at once on the first signal. Here the first signal only
starts the `Drainer` (``/ready`` turns 503, new calls are refused, active calls run on up to the
drain timeout); uvicorn's shutdown runs when the drain is over. A second signal skips the rest:
uvicorn's forced shutdown (no waiting on connections or the lifespan), and the default handlers
come back so that a third signal ends the process even if the event loop is stuck.
`mediaserver serve` exits with status 0 after a drain, 1 when it was forced.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable
from types import FrameType

import structlog
import uvicorn

from mediaserver.calls.drain import Drainer, DrainReport

log = structlog.get_logger("mediaserver.serve")


class DrainingServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        drainer: Drainer,
        *,
        exit_when_forced: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.drainer = drainer
        self.exit_when_forced = exit_when_forced
        self.drain_requested = False
        self.forced = False
        self._drain_task: asyncio.Task[DrainReport] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Runs as a Python signal handler on the loop's thread: set flags only; the tick loop
        # (every 0.1 s) acts on them.
        if not self.drain_requested:
            self.drain_requested = True
            return
        self.forced = True
        self.force_exit = True
        self.should_exit = True
        for handled in (signal.SIGINT, signal.SIGTERM):
            signal.signal(handled, signal.SIG_DFL)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super().serve(sockets)
        if self.forced and self.exit_when_forced is not None:
            # A forced shutdown leaves the app's lifespan running; returning would let
            # asyncio.run cancel it, run its whole clean-up after all and log a CancelledError
            # traceback. Forced means now.
            self.exit_when_forced()

    async def on_tick(self, counter: int) -> bool:
        if self.drain_requested and self._drain_task is None:
            log.info("server.drain_requested")
            self._drain_task = self.drainer.start()
            self._drain_task.add_done_callback(self._drained)
        return await super().on_tick(counter)

    def _drained(self, task: asyncio.Task[DrainReport]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("server.drain_failed", error=type(task.exception()).__name__)
        self.should_exit = True
