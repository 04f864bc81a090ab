"""The engine supervisor: one worker process per model in use, started on first use.

What the API and the session runtime call:

    async with Supervisor(resolve, SupervisorOptions.from_settings(settings), metrics) as sup:
        transcript = await sup.transcribe_file("model", audio, options, progress=cb)
        async with sup.stream("model", options) as stream:   # realtime priority
            hypothesis = await stream.accept(chunk)
            final = await stream.complete()
        sup.workers()  # what is loaded now, for `mediaserver ps` and GET /v1/models

Batch-priority STT work (file transcriptions) goes to a second worker for the model when
`batch_nice` >= 0: a process at that OS niceness, so the kernel, not a queue, keeps live calls
first (a decode cannot be interrupted once it runs; a nice process yields its CPU within a
scheduler tick). Workers run elsewhere (`address`) and TTS keep one worker per model.

Failure contract: a stream whose worker dies raises `WorkerCrashed` (recoverable) at once; the
caller opens a new stream, which waits for the restarted worker. A batch transcription whose
worker dies is retried once, automatically, on the restarted worker; a second crash raises
`WorkerCrashed` (retryable), so a file that crashes the engine cannot crash-loop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import structlog

from mediaserver.config import Settings
from mediaserver.engines.base import ProgressCallback, TranscribeOptions, Transcript
from mediaserver.engines.errors import ShuttingDown, WorkerCrashed
from mediaserver.engines.ipc.client import PcmAudio, RemoteSttStream, WorkerClient
from mediaserver.engines.supervision.managed import ManagedWorker
from mediaserver.engines.supervision.phases import Phase
from mediaserver.engines.supervision.scheduler import Priority
from mediaserver.engines.supervision.spec import Role, SupervisorOptions, WorkerSpec, WorkerStatus
from mediaserver.observability import Metrics

__all__ = [
    "Priority",
    "Supervisor",
    "SupervisorOptions",
    "WorkerSpec",
    "WorkerStatus",
    "options_from_settings",
]

log = structlog.get_logger("mediaserver.engines.supervision.supervisor")
REAP_INTERVAL_MAX_S = 5.0

Resolve = Callable[[str], WorkerSpec]  # model name -> spec; raises ModelNotFoundError


def options_from_settings(settings: Settings, **overrides: object) -> SupervisorOptions:
    options = SupervisorOptions(
        auto_unload_s=settings.models.auto_unload_s,
        batch_nice=settings.models.batch_worker_nice,
        log_level=settings.logging.level,
        log_format=settings.logging.format,
    )
    return replace(options, **overrides)  # type: ignore[arg-type]  # checked by dataclasses


class Supervisor:
    def __init__(
        self,
        resolve: Resolve,
        options: SupervisorOptions | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._resolve = resolve
        self.options = options or SupervisorOptions()
        self._metrics = metrics
        self._workers: dict[tuple[str, Role], ManagedWorker] = {}
        self._socket_dir: Path | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False
        self._unloading: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Supervisor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        # A short private directory: Unix socket paths are limited to ~107 bytes.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="mediaserver-"))
        if self.options.auto_unload_s > 0:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def close(self) -> None:
        """Stop accepting work, drain requests in flight, stop every worker."""
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        workers = list(self._workers.values())
        await asyncio.gather(*(w.stop() for w in workers), *self._unloading)
        self._workers.clear()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    # -- introspection --------------------------------------------------------------------

    def workers(self) -> list[WorkerStatus]:
        """What is loaded now (and what failed), for `mediaserver ps` and GET /v1/models."""
        return [w.status() for w in self._workers.values()]

    def worker(self, model: str, role: Role = "live") -> ManagedWorker | None:
        return self._workers.get((model, role))

    # -- use ------------------------------------------------------------------------------

    def _get(self, model: str, priority: Priority = Priority.REALTIME) -> ManagedWorker:
        if self._closing or self._socket_dir is None:
            raise ShuttingDown("the engine supervisor is not running")
        if priority is Priority.BATCH and self.options.batch_nice >= 0:
            live = self._usable(model, "live")
            if live is None or live.spec.splits_batch:  # known not to split: no registry read
                return self._usable(model, "batch") or self._start_batch(model)
        return self._usable(model, "live") or self._start(self._resolve(model))

    def _usable(self, model: str, role: Role) -> ManagedWorker | None:
        worker = self._workers.get((model, role))
        if worker is None or worker.phase in (Phase.STOPPING, Phase.STOPPED):
            return None
        return worker

    def _start_batch(self, model: str) -> ManagedWorker:
        spec = self._resolve(model)
        if not spec.splits_batch:  # TTS, and workers run elsewhere: one serves all
            return self._usable(model, "live") or self._start(spec)
        return self._start(replace(spec, role="batch", nice=self.options.batch_nice))

    def _start(self, spec: WorkerSpec) -> ManagedWorker:
        assert self._socket_dir is not None
        worker = ManagedWorker(spec, self.options, self._socket_dir, self._metrics)
        self._workers[(spec.model, spec.role)] = worker
        worker.start()
        return worker

    async def load(self, model: str) -> WorkerStatus:
        """Start the model's worker now (warm-up) and wait until it is ready."""
        worker = self._get(model)
        async with worker.lease():
            await worker.ready()
        return worker.status()

    async def unload(self, model: str) -> bool:
        """Stop the model's workers (live and batch); False if it had none."""
        workers = [self._workers.pop(key) for key in list(self._workers) if key[0] == model]
        await asyncio.gather(*(w.stop() for w in workers))
        return bool(workers)

    @contextlib.asynccontextmanager
    async def _session(
        self, model: str, priority: Priority
    ) -> AsyncIterator[tuple[ManagedWorker, WorkerClient, int]]:
        worker = self._get(model, priority)
        async with worker.lease(), worker.scheduler.slot(priority):
            client, generation = await worker.ready()
            yield worker, client, generation

    async def transcribe_file(
        self,
        model: str,
        audio: PcmAudio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
        priority: Priority = Priority.BATCH,
    ) -> Transcript:
        """Transcribe mono 16 kHz audio (float32 or int16); retried once after a crash."""
        async with self._session(model, priority) as (worker, client, generation):
            try:
                return await client.transcribe_file(audio, options, progress=progress)
            except WorkerCrashed:
                log.warning("batch.retry_after_crash", model=model)
            client, _ = await worker.ready(newer_than=generation)
            return await client.transcribe_file(audio, options, progress=progress)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        model: str,
        options: TranscribeOptions,
        *,
        priority: Priority = Priority.REALTIME,
    ) -> AsyncIterator[RemoteSttStream]:
        """A streaming transcription (one utterance) holding a worker slot while open."""
        async with self._session(model, priority) as (worker, client, _generation):
            remote = client.open_stream(options)
            worker.track(remote)
            try:
                yield remote
            finally:
                worker.untrack(remote)
                await remote.aclose()

    async def synthesize(
        self, model: str, text: str, voice: str, *, speed: float = 1.0
    ) -> AsyncGenerator[tuple[bytes, int], None]:
        """(PCM16 bytes, sample rate) chunks from the model's TTS worker.

        Closing it early (`aclose`) cancels the synthesis on the worker and frees the slot.
        """
        async with self._session(model, Priority.REALTIME) as (_, client, _generation):
            chunks = client.synthesize(text, voice, speed=speed)
            try:
                async for chunk in chunks:
                    yield chunk
            finally:
                await chunks.aclose()  # `async for` leaves it suspended: cancel the RPC now

    # -- idle unload ----------------------------------------------------------------------

    async def _reap_idle(self) -> None:
        ttl = self.options.auto_unload_s
        interval = min(max(ttl / 4, 0.05), REAP_INTERVAL_MAX_S)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for key, worker in list(self._workers.items()):
                idle = worker.idle_for(now)
                if worker.is_local and worker.phase == Phase.READY and idle >= ttl:
                    log.info("worker.idle_unload", model=worker.spec.label, idle_s=round(idle, 1))
                    del self._workers[key]
                    # Stopped apart from this loop, so that `close` can wait for it.
                    task = asyncio.get_running_loop().create_task(worker.stop())
                    self._unloading.add(task)
                    task.add_done_callback(self._unloading.discard)
