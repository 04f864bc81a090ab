"""Starlette application factory and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware

from mediaserver import __version__
from mediaserver.api import calls as calls_api
from mediaserver.api import calls_rtp, errors, health, transcriptions
from mediaserver.api import models as models_api
from mediaserver.api.auth import ApiKeyMiddleware
from mediaserver.config import Settings
from mediaserver.domain.normalizer import Normalizer, itn_cache_dir
from mediaserver.domain.pipeline import Postprocessor
from mediaserver.engines.registry import Registry
from mediaserver.engines.supervisor import Supervisor, options_from_settings
from mediaserver.observability import Metrics
from mediaserver.transports.calls import Call, CallManager
from mediaserver.transports.rtp import RtpTransport
from mediaserver.transports.worker_recognizers import WorkerRecognizers, registry_resolver

log = structlog.get_logger("mediaserver.app")
T = TypeVar("T")


@dataclass
class Runtime:
    """What the routes share: settings, metrics and the long-lived services."""

    settings: Settings
    metrics: Metrics
    draining: bool = False
    # The live calls, for the SIGTERM drain; the call core points this at CallManager.calls.
    active_calls: Callable[[], Sequence[Call]] = list
    # Engine workers (one process per model in use), started on first use.
    supervisor: Supervisor = field(init=False)
    # Every live call of every transport (built in create_app, started in the lifespan).
    calls: CallManager = field(init=False)
    # UDP ports for POST /v1/calls; None when rtp.enabled is false.
    rtp: RtpTransport | None = None
    # Installed models (what the supervisor resolves names against).
    registry: Registry = field(init=False)
    # Batch transcripts' post-processing. Not thread-safe: use it only through `postprocess`,
    # which runs it on its own thread.
    postprocessor: Postprocessor | None = None
    _postprocess_thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="postprocess")
    )

    async def postprocess(self, fn: Callable[[Postprocessor], T]) -> T:
        """Run `fn(postprocessor)` on the post-processing thread (NeMo calls block)."""
        if self.postprocessor is None:
            raise RuntimeError("the post-processor is not running")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._postprocess_thread, fn, self.postprocessor)


def create_app(settings: Settings, metrics: Metrics | None = None) -> Starlette:
    runtime = Runtime(settings=settings, metrics=metrics or Metrics())
    registry = Registry.from_settings(settings)
    runtime.registry = registry
    runtime.supervisor = Supervisor(
        registry_resolver(registry), options_from_settings(settings), runtime.metrics
    )
    runtime.calls = CallManager(
        settings,
        runtime.metrics,
        WorkerRecognizers(runtime.supervisor, registry),
        draining=lambda: runtime.draining,
    )
    runtime.active_calls = runtime.calls.calls
    if settings.rtp.enabled:
        runtime.rtp = RtpTransport(settings.rtp, runtime.calls, runtime.metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("server.start", version=__version__, host=settings.server.host)
        await runtime.supervisor.start()
        await runtime.calls.start()
        normalizer = Normalizer(
            itn_cache_dir(settings.models.path),
            failures=runtime.metrics.itn_failures,
            use_nemo=settings.postprocess.nemo,
        )
        hits = runtime.metrics.hot_word_hits
        runtime.postprocessor = Postprocessor(normalizer, hot_word_hits=hits)
        # Loaded now, on the post-processing thread: the first transcript waits behind it
        # instead of paying for it, and start-up does not wait at all.
        runtime._postprocess_thread.submit(normalizer.load)
        try:
            yield
        finally:
            runtime.draining = True
            await runtime.calls.stop()
            if runtime.rtp is not None:
                await runtime.rtp.close()
            await runtime.supervisor.close()
            log.info("server.stop")
            # Waits for a NeMo load still running: no thread outlives the app.
            await asyncio.to_thread(runtime._postprocess_thread.shutdown, cancel_futures=True)

    app = Starlette(
        routes=[
            *health.routes,
            *calls_api.routes,
            *transcriptions.routes,
            *models_api.routes,
            *calls_rtp.routes,
        ],
        exception_handlers=errors.EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=[Middleware(ApiKeyMiddleware, keys=settings.server.api_keys)],
    )
    app.state.runtime = runtime
    return app
