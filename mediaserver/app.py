"""Starlette application factory and lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware

from mediaserver import __version__
from mediaserver.api import errors, health
from mediaserver.api.auth import ApiKeyMiddleware
from mediaserver.config import Settings
from mediaserver.observability import Metrics
from mediaserver.transports.calls import Call

log = structlog.get_logger("mediaserver.app")


@dataclass
class Runtime:
    """What the routes share: settings, metrics and the long-lived services."""

    settings: Settings
    metrics: Metrics
    draining: bool = False
    # The live calls, for the SIGTERM drain; the call core points this at CallManager.calls.
    active_calls: Callable[[], Sequence[Call]] = list


def create_app(settings: Settings, metrics: Metrics | None = None) -> Starlette:
    runtime = Runtime(settings=settings, metrics=metrics or Metrics())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("server.start", version=__version__, host=settings.server.host)
        try:
            yield
        finally:
            runtime.draining = True
            log.info("server.stop")

    app = Starlette(
        routes=[*health.routes],
        exception_handlers=errors.EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=[Middleware(ApiKeyMiddleware, keys=settings.server.api_keys)],
    )
    app.state.runtime = runtime
    return app
