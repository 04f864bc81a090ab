"""One task runs the VAD network for every call: one batched inference per tick, not per call.

Calls mark themselves when they have been fed (`mark`). On each tick the ticker gathers the
marked calls, runs `VadBatcher.run` over their streams (each stream's waiting chunks, all calls
in one batch per step), then lets every marked call apply its decisions (`vad_done(now)`).
Ticks are paced from deadlines (`start + k * interval`), and the ticker sleeps while no call
was fed, so an idle server does no work.

A failure while batching is retried call by call, so only the call whose stream fails is told
(`vad_failed`); the others get their decisions as usual. The batch runs on the event loop: it
is short (one small ONNX inference for all calls) and must not race with `feed`, which appends
to the same streams. Running the inference on a worker thread instead (onnxruntime releases
the GIL; the inputs copied out first) was measured and rejected: on a 2-core machine shared
with the RTP sender, 400 calls went from p95 lag 0.3 s to 11 s, the loop thread alone at 95 %
of a core, GIL hand-offs included, plus 25 % on the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final, Protocol

from mediaserver.audio.vad import VadBatcher, VadStream

DEFAULT_INTERVAL_S: Final = 0.02
# VAD chunks (32 ms) decided per call per tick (20 ms): 6x real time, so a call catches up
# after a stall, while one call fed far ahead of real time (a flood let in by the transport's
# backlog allowance) spreads its backlog over later ticks instead of stalling the loop.
MAX_CHUNKS_PER_TICK: Final = 4


class VadClient(Protocol):
    @property
    def vad_stream(self) -> VadStream: ...

    def vad_done(self, now: float) -> None: ...

    def vad_failed(self, exc: Exception) -> None: ...


class VadTicker:
    def __init__(
        self,
        batcher: VadBatcher,
        interval: float = DEFAULT_INTERVAL_S,
        on_tick: Callable[[float], None] | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self.batcher = batcher
        self.interval = interval
        self._on_tick = on_tick  # gets each tick's duration in seconds (a metric)
        self._marked: dict[VadClient, None] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.inferences = 0

    def mark(self, client: VadClient) -> None:
        """`client` was fed: run its VAD on the next tick. Cheap; never blocks."""
        self._marked[client] = None
        self._wakeup.set()

    def forget(self, client: VadClient) -> None:
        self._marked.pop(client, None)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="vad-ticker")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def run_once(self, now: float) -> None:
        """One tick: batch the marked calls' VAD, then hand each call its decisions."""
        clients, self._marked = list(self._marked), {}
        self.ticks += 1
        try:
            self.inferences += self.batcher.run(
                (c.vad_stream for c in clients), MAX_CHUNKS_PER_TICK
            )
        except Exception:
            clients = self._one_by_one(clients)
        for client in clients:
            client.vad_done(now)
            if client.vad_stream.pending:
                self.mark(client)  # the rest of its backlog on the next ticks

    def _one_by_one(self, clients: list[VadClient]) -> list[VadClient]:
        healthy: list[VadClient] = []
        for client in clients:
            try:
                self.inferences += self.batcher.run((client.vad_stream,), MAX_CHUNKS_PER_TICK)
            except Exception as exc:  # that call's stream is broken, not the others
                client.vad_failed(exc)
            else:
                healthy.append(client)
        return healthy

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if not self._marked:
                self._wakeup.clear()
                await self._wakeup.wait()
                next_at = max(next_at, loop.time())
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            self.run_once(now)
            if self._on_tick is not None:
                self._on_tick(loop.time() - now)
            # Paced from deadlines; after a stall, start again from now instead of bursting.
            next_at = max(next_at + self.interval, now)
