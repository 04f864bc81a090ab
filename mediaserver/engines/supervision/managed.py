"""One model's worker, kept alive: spawn, readiness, health pings, restarts, graceful stop.

The life of a worker is a small state machine (`Phase`, `TRANSITIONS`), changed only by
`_set_phase`, which logs every transition and wakes whoever waits for the worker. A crash is
seen at once through the process exit (the asyncio child watcher); a hung worker through
missed health pings; both lead to a restart after an exponential back-off, until too many
failures in a short window put the worker in FAILED for a cool-down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from mediaserver.engines.errors import (
    EngineError,
    ShuttingDown,
    WorkerCrashed,
    WorkerStartError,
    WorkerUnavailable,
)
from mediaserver.engines.ipc.client import RemoteSttStream, WorkerClient
from mediaserver.engines.ipc.servicer import rss_bytes
from mediaserver.engines.supervision.lane_totals import LaneTotals
from mediaserver.engines.supervision.phases import TRANSITIONS, Phase
from mediaserver.engines.supervision.process import (
    WorkerExitedEarly,
    drain_stdout,
    socket_name,
    spawn_worker,
)
from mediaserver.engines.supervision.scheduler import Scheduler
from mediaserver.engines.supervision.spec import SupervisorOptions, WorkerSpec, WorkerStatus
from mediaserver.observability import Metrics

log = structlog.get_logger("mediaserver.engines.supervision.supervisor")


class _LaunchFailed(Exception):
    """The worker died or hung before becoming ready (restarting may help)."""


class ManagedWorker:
    def __init__(
        self,
        spec: WorkerSpec,
        options: SupervisorOptions,
        socket_dir: Path,
        metrics: Metrics | None = None,
    ) -> None:
        self.spec = spec
        self.options = options
        self.scheduler = Scheduler(spec.model, spec.concurrency, options.max_queued, metrics)
        self.phase = Phase.STARTING
        self.client: WorkerClient | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.generation = 0  # increments on every successful launch
        self.restarts = 0
        self.last_error = ""
        self.loaded_since: float | None = None
        self.last_used = time.monotonic()
        self.last_used_wall: float | None = None
        self.rss_bytes = 0
        self.remote_pid: int | None = None
        self.in_use = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._socket_dir = socket_dir
        self._metrics = metrics
        self._lanes = LaneTotals()
        self._changed = asyncio.Event()
        self._failures: deque[float] = deque()
        self._failed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._drain: asyncio.Task[None] | None = None
        self._streams: set[RemoteSttStream] = set()
        self._stopping = False
        self._load_failed = False
        self._broken = asyncio.Event()

    # -- state ----------------------------------------------------------------------------

    def _set_phase(self, to: Phase, **fields: Any) -> None:
        if to == self.phase:
            return
        if to not in TRANSITIONS[self.phase]:
            raise RuntimeError(f"worker {self.spec.model}: no transition {self.phase} -> {to}")
        log.info("worker.state", model=self.spec.label, frm=str(self.phase), to=str(to), **fields)
        self.phase = to
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def status(self) -> WorkerStatus:
        pid = self.proc.pid if self.proc is not None else self.remote_pid
        return WorkerStatus(
            model=self.spec.model,
            engine=self.spec.engine,
            kind=self.spec.kind,
            role=self.spec.role,
            state=str(self.phase),
            pid=pid if self.phase in (Phase.READY, Phase.STARTING) else None,
            address=self.client.address if self.client is not None else self.spec.address,
            loaded_since=self.loaded_since,
            last_used=self.last_used_wall,
            restarts=self.restarts,
            in_flight=self.in_use,
            queued=self.scheduler.depth(),
            rss_bytes=self.rss_bytes,
            last_error=self.last_error,
        )

    @property
    def is_local(self) -> bool:
        return self.spec.address is None

    def idle_for(self, now: float) -> float:
        return now - self.last_used if self.in_use == 0 else 0.0

    # -- use ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._failures.clear()
            self._task = asyncio.get_running_loop().create_task(self._supervise())

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[None]:
        """Mark the worker in use (it is not unloaded meanwhile)."""
        self.in_use += 1
        self._idle.clear()
        self._touch()
        try:
            yield
        finally:
            self.in_use -= 1
            self._touch()
            if self.in_use == 0:
                self._idle.set()

    def _touch(self) -> None:
        self.last_used = time.monotonic()
        self.last_used_wall = time.time()

    def track(self, stream: RemoteSttStream) -> None:
        self._streams.add(stream)

    def untrack(self, stream: RemoteSttStream) -> None:
        self._streams.discard(stream)

    async def ready(self, newer_than: int = 0) -> tuple[WorkerClient, int]:
        """The client of a ready worker (launched after generation `newer_than`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.start_timeout_s
        while True:
            if self.phase == Phase.READY and self.client and self.generation > newer_than:
                return self.client, self.generation
            if self._stopping:
                raise ShuttingDown(f"worker for {self.spec.model!r} is stopping")
            if self.phase == Phase.FAILED:
                self._retry_failed()
            if self.phase == Phase.FAILED:
                raise self._failure_error()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WorkerUnavailable(
                    f"worker for {self.spec.model!r} not ready after "
                    f"{self.options.start_timeout_s:g} s",
                    retry_after_s=self.options.backoff_max_s,
                )
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _retry_failed(self) -> None:
        if time.monotonic() - self._failed_at >= self.options.failed_cooldown_s:
            self._set_phase(Phase.STARTING, reason="cool-down over")
            self.start()

    def _failure_error(self) -> WorkerUnavailable:
        wait = self.options.failed_cooldown_s - (time.monotonic() - self._failed_at)
        message = f"worker for {self.spec.model!r} failed: {self.last_error}"
        if self._load_failed:
            return WorkerStartError(message)
        return WorkerUnavailable(message, retry_after_s=max(1.0, wait))

    # -- supervision ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        # `stop` cancels this task; the checks of `_stopping` cover the awaits that return
        # normally while it drains (the worker may crash meanwhile).
        while not self._is_stopping():
            try:
                await self._launch()
            except WorkerStartError as exc:  # the model cannot load: restarting will not help
                self._load_failed = True
                await self._give_up(str(exc))
                return
            except _LaunchFailed as exc:
                reason = str(exc)
            else:
                if self._is_stopping():
                    return
                self._load_failed = False
                self.generation += 1
                self.loaded_since = time.time()
                self._set_phase(Phase.READY, generation=self.generation, pid=self._pid())
                reason = await self._watch()
            if self._is_stopping():
                return
            self._set_phase(Phase.RESTARTING, reason=reason)
            self.last_error = reason
            await self._discard(WorkerCrashed(f"worker for {self.spec.model!r}: {reason}"))
            delay = self._note_failure()
            if delay is None:
                await self._give_up(
                    f"{len(self._failures)} failures in "
                    f"{self.options.rapid_window_s:g} s; last: {reason}"
                )
                return
            self.restarts += 1
            if self._metrics is not None:
                self._metrics.worker_restarts.labels(self.spec.model).inc()
            await asyncio.sleep(delay)
            if not self._is_stopping():
                self._set_phase(Phase.STARTING)

    def _is_stopping(self) -> bool:
        return self._stopping

    def _pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else self.remote_pid

    def _note_failure(self) -> float | None:
        """Back-off before the next start, or None when failing too often to go on."""
        now = time.monotonic()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.options.rapid_window_s:
            self._failures.popleft()
        n = len(self._failures)
        if n > self.options.max_rapid_failures:
            return None
        return min(self.options.backoff_initial_s * 2.0 ** (n - 1), self.options.backoff_max_s)

    async def _give_up(self, reason: str) -> None:
        self.last_error = reason
        self._failed_at = time.monotonic()
        await self._discard(WorkerUnavailable(reason))
        if not self._stopping:
            self._set_phase(Phase.FAILED, reason=reason)

    async def _launch(self) -> None:
        if self.is_local:
            address = await self._spawn()
        else:
            assert self.spec.address is not None
            address = self.spec.address
        self.client = WorkerClient(address, self.spec.kind)
        self.client.on_broken = functools.partial(self._connection_broken, self.client)
        self._broken = asyncio.Event()
        try:
            async with asyncio.timeout(self.options.start_timeout_s):
                await self._wait_loaded(self.client)
        except TimeoutError:
            raise _LaunchFailed(f"not ready after {self.options.start_timeout_s:g} s") from None

    async def _spawn(self) -> str:
        path = self._socket_dir / socket_name(self.spec.label, self.generation + 1)
        address = f"unix://{path}"
        try:
            self.proc = await spawn_worker(self.spec, self.options, address)
        except WorkerExitedEarly as exc:
            raise _LaunchFailed(str(exc)) from None
        self._drain = asyncio.get_running_loop().create_task(drain_stdout(self.proc))
        return address

    async def _wait_loaded(self, client: WorkerClient) -> None:
        while True:
            if self.proc is not None and self.proc.returncode is not None:
                raise _LaunchFailed(f"worker exited with code {self.proc.returncode} while loading")
            try:
                health = await client.health(self.options.health_timeout_s, wait_for_ready=True)
            except EngineError:
                await asyncio.sleep(0.05)
                continue
            if health.load_error:
                raise WorkerStartError(f"cannot load model: {health.load_error}")
            if health.loaded:
                self.remote_pid = health.pid
                self.rss_bytes = health.rss_bytes
                return
            await asyncio.sleep(0.02)

    async def _watch(self) -> str:
        """Wait until the worker is gone; return why."""
        watchers: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._ping()),
            asyncio.create_task(self._broken.wait()),
        ]
        if self.proc is not None:
            watchers.append(asyncio.create_task(self.proc.wait()))
        try:
            done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in watchers:
                task.cancel()
        ping, broken = watchers[0], watchers[1]
        if ping in done:
            return str(ping.result())
        if broken in done:
            return "connection to the worker broke"
        assert self.proc is not None
        return f"worker exited with code {self.proc.returncode}"

    async def _ping(self) -> str:
        misses = 0
        limit = self.spec.memory_limit_mb * 1024 * 1024
        while True:
            await asyncio.sleep(self.options.health_interval_s)
            if self.proc is not None and limit:
                rss = rss_bytes(self.proc.pid)
                if rss > limit:
                    self._kill()
                    return f"memory limit: rss {rss // 2**20} MiB > {self.spec.memory_limit_mb} MiB"
            assert self.client is not None
            try:
                health = await self.client.health(self.options.health_timeout_s)
            except EngineError:
                misses += 1
                if misses >= self.options.unhealthy_after:
                    self._kill()
                    return f"unresponsive: {misses} health pings missed"
                continue
            misses = 0
            self.rss_bytes = health.rss_bytes
            if self._metrics is not None:
                self._lanes.observe(self._metrics, self.spec.model, health)

    def _connection_broken(self, client: WorkerClient) -> None:
        """A request found the connection broken: restart now, not at the next ping."""
        if client is not self.client or self.phase != Phase.READY:
            return  # a stale report about an earlier process
        # Leave READY at once so that a caller retrying right away waits for the successor.
        self._set_phase(Phase.RESTARTING, reason="connection broke")
        self._kill()
        self._broken.set()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def _discard(self, error: EngineError) -> None:
        """Forget the current process: break its streams, close the channel, reap it."""
        for stream in list(self._streams):
            stream.fail(error)
        self._streams.clear()
        if self.client is not None:
            await self.client.close(error)
            self.client = None
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None

    async def stop(self) -> None:
        """Graceful: refuse new work, drain what is in flight, SIGTERM, SIGKILL on timeout."""
        if self._stopping:
            return
        self._stopping = True
        self._set_phase(Phase.STOPPING)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.options.drain_timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), self.options.stop_timeout_s)
            except TimeoutError:
                log.warning("worker.kill_after_timeout", model=self.spec.model)
        await self._discard(ShuttingDown(f"worker for {self.spec.model!r} stopped"))
        self._set_phase(Phase.STOPPED)
