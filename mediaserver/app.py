"""Starlette application factory and lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog
from starlette.applications import Starlette

from mediaserver import __version__
from mediaserver.api import calls as calls_api
from mediaserver.api import errors, health
from mediaserver.config import Settings
from mediaserver.observability import Metrics
from mediaserver.transports.calls import CallManager

log = structlog.get_logger("mediaserver.app")


@dataclass
class Runtime:
    """What the routes share: settings, metrics and the long-lived services."""

    settings: Settings
    metrics: Metrics
    draining: bool = False
    # Every live call of every transport (built in create_app, started in the lifespan).
    calls: CallManager = field(init=False)


def create_app(settings: Settings, metrics: Metrics | None = None) -> Starlette:
    runtime = Runtime(settings=settings, metrics=metrics or Metrics())
    runtime.calls = CallManager(settings, runtime.metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("server.start", version=__version__, host=settings.server.host)
        await runtime.calls.start()
        try:
            yield
        finally:
            runtime.draining = True
            await runtime.calls.stop()
            log.info("server.stop")

    app = Starlette(
        routes=[*health.routes, *calls_api.routes],
        exception_handlers=errors.EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
