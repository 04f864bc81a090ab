"""Starlette application factory and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware

from mediaserver import __version__
from mediaserver.api import auth, calls_rtp, errors, health, jobs, transcriptions
from mediaserver.api import calls as calls_api
from mediaserver.api import demo as demo_page
from mediaserver.api import docs as docs_page
from mediaserver.api import models as models_api
from mediaserver.api import realtime as realtime_api
from mediaserver.api import speak as speak_api
from mediaserver.api import speech as speech_api
from mediaserver.api import webrtc as webrtc_api
from mediaserver.api.auth import ApiKeyMiddleware
from mediaserver.api.request_metrics import RequestMetricsMiddleware
from mediaserver.config import Settings
from mediaserver.engines.models.defaults import models_report
from mediaserver.observability import Metrics
from mediaserver.runtime import Runtime, build_runtime

log = structlog.get_logger("mediaserver.app")


async def log_models(runtime: Runtime) -> None:
    """What the server can do: its models, and a default that is missing (once, with the fix)."""
    report = await asyncio.to_thread(models_report, runtime.registry, runtime.settings.models)
    log.info("models.installed", stt=list(report.stt), tts=list(report.tts))
    for name, fix in report.fixes().items():
        log.warning("models.default_missing", model=name, fix=fix)


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings, metrics: Metrics | None = None, *, freeze_heap: bool = False
) -> Starlette:
    """`freeze_heap` (the server process, not tests): after start-up, move every object
    then alive out of the garbage collector's sight (`gc.freeze`), so its full collections
    stop re-scanning modules, models and grammars: at 400 calls they stalled the event loop
    80-150 ms each."""
    runtime = build_runtime(settings, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("server.start", version=__version__, host=settings.server.host)
        await log_models(runtime)
        try:
            await runtime.start()
            if freeze_heap:
                freeze_startup_heap()
            yield
        finally:
            await runtime.stop()
            log.info("server.stop")

    app = Starlette(
        routes=[
            *health.routes,
            *calls_api.routes,
            *transcriptions.routes,
            *jobs.routes,
            *models_api.routes,
            *speech_api.routes,
            *calls_rtp.routes,
            *speak_api.routes,
            *webrtc_api.routes,
            *realtime_api.routes,
            *demo_page.routes,
            *docs_page.routes,
        ],
        exception_handlers=errors.EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestMetricsMiddleware, metrics=runtime.metrics),
            Middleware(errors.InternalErrorMiddleware),
            Middleware(ApiKeyMiddleware, keys=settings.server.api_keys),
        ],
    )
    app.state.runtime = runtime
    return app


def runtime_of_app(app: Starlette) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


def install_log_filters() -> None:
    """Keep API keys out of uvicorn's own log lines (the server process installs this)."""
    auth.install_log_filters()
