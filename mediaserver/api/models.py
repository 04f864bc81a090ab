"""GET /v1/models: installed models, OpenAI-style, with the engine's view of each.

`?loaded=true` lists the workers running now (what `mediaserver ps` shows), with each one's
state, role (`live`; `batch` for a model's file-transcription worker), pid, restarts and load.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediaserver.api.context import runtime_of
from mediaserver.api.errors import ApiError
from mediaserver.engines.models.registry import InstalledModel
from mediaserver.engines.supervision.spec import WorkerStatus

_TRUE = ("1", "true", "yes")
_FALSE = ("", "0", "false", "no")


def _created(model: InstalledModel) -> int:
    at = model.manifest.installed_at
    return int(at.timestamp()) if at is not None else 0


def installed_entry(model: InstalledModel, worker: WorkerStatus | None) -> dict[str, Any]:
    m = model.manifest
    return {
        "id": m.name,
        "object": "model",
        "created": _created(model),
        "owned_by": "mediaserver",
        "engine": m.engine,
        "type": m.type,
        "status": worker.state if worker is not None else "installed",
        "languages": list(m.languages),
    }


def loaded_entry(worker: WorkerStatus, model_type: str) -> dict[str, Any]:
    return {
        "id": worker.model,
        "object": "model",
        "engine": worker.engine,
        "type": model_type,
        "status": worker.state,
        "role": worker.role,
        "pid": worker.pid,
        "restarts": worker.restarts,
        "in_flight": worker.in_flight,
        "queued": worker.queued,
        "rss_bytes": worker.rss_bytes,
        "loaded_since": worker.loaded_since,
        "last_error": worker.last_error,
    }


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, "invalid_parameter", f"{name} must be true or false", param=name)


async def list_models(request: Request) -> Response:
    runtime = runtime_of(request)
    loaded_only = _flag(request, "loaded")
    workers = runtime.supervisor.workers()
    if loaded_only:
        data = [loaded_entry(w, w.kind) for w in workers]
    else:
        # A model's status is its live worker's; a batch worker alone still says it is loaded.
        by_model = {w.model: w for w in workers if w.role == "batch"}
        by_model.update((w.model, w) for w in workers if w.role == "live")
        installed = await asyncio.to_thread(runtime.registry.installed)
        data = [installed_entry(m, by_model.get(m.name)) for m in installed]
    return JSONResponse({"object": "list", "data": data})


routes = [Route("/v1/models", list_models, methods=["GET"])]
