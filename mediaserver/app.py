"""Starlette application factory and lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware

from mediaserver import __version__
from mediaserver.api import calls as calls_api
from mediaserver.api import calls_rtp, errors, health
from mediaserver.api.auth import ApiKeyMiddleware
from mediaserver.config import Settings
from mediaserver.engines.registry import Registry
from mediaserver.engines.supervisor import Supervisor, options_from_settings
from mediaserver.observability import Metrics
from mediaserver.transports.calls import Call, CallManager
from mediaserver.transports.rtp import RtpTransport
from mediaserver.transports.worker_recognizers import WorkerRecognizers, registry_resolver

log = structlog.get_logger("mediaserver.app")


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


def create_app(settings: Settings, metrics: Metrics | None = None) -> Starlette:
    runtime = Runtime(settings=settings, metrics=metrics or Metrics())
    registry = Registry.from_settings(settings)
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
        try:
            yield
        finally:
            runtime.draining = True
            await runtime.calls.stop()
            if runtime.rtp is not None:
                await runtime.rtp.close()
            await runtime.supervisor.close()
            log.info("server.stop")

    app = Starlette(
        routes=[
            *health.routes,
            *calls_api.routes,
            *calls_rtp.routes,
        ],
        exception_handlers=errors.EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=[Middleware(ApiKeyMiddleware, keys=settings.server.api_keys)],
    )
    app.state.runtime = runtime
    return app
