"""Liveness, readiness and Prometheus metrics.

`/health` and `/ready` need no API key (load balancers and Kubernetes probes have none) and tell
an anonymous client nothing but the status. A client that presents a valid key (or any client
when no keys are configured) also gets the installed models and the missing defaults from
`/ready`: a server without its default STT model is up, and serves everything else, but
cannot transcribe until `mediaserver pull` installs it.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediaserver.api.context import runtime_of
from mediaserver.engines.models.defaults import models_report


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    runtime = runtime_of(request)
    if runtime.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    body: dict[str, object] = {"status": "ready"}
    if getattr(request.state, "authenticated", False):
        report = await asyncio.to_thread(models_report, runtime.registry, runtime.settings.models)
        body["models"] = report.to_dict()
    return JSONResponse(body)


async def metrics(request: Request) -> Response:
    registry = runtime_of(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
