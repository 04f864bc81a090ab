"""API errors and their mapping to HTTP responses: the one place where that happens."""

from __future__ import annotations

import math
from collections.abc import Mapping

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediaserver.audio.decode import AudioDecodeError, AudioLimitError
from mediaserver.engines.base import InvalidModelNameError, ModelLoadError, ModelNotFoundError
from mediaserver.engines.errors import (
    EngineError,
    EngineFailure,
    EngineRequestError,
    QueueFullError,
    WorkerUnavailable,
)
from mediaserver.engines.supervision.build import ModelTypeError

log = structlog.get_logger("mediaserver.api.errors")


class ApiError(Exception):
    """An error to return to the client, OpenAI-style: {"error": {"message", "type", "code"}}."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers

    @property
    def type(self) -> str:
        return "invalid_request_error" if self.status < 500 else "server_error"

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    # Read directly, not through `context.runtime_of` (which raises ApiError itself): an app
    # without a runtime still answers its errors.
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        runtime.metrics.api_errors.labels(exc.code).inc()
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _retry_after(seconds: float | None) -> dict[str, str] | None:
    if seconds is None:
        return None
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def engine_error(exc: EngineError) -> ApiError:
    """Engine runtime errors: whose fault (4xx vs 5xx) and whether to retry (Retry-After)."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, QueueFullError):
        return ApiError(503, "queue_full", message, headers=_retry_after(exc.retry_after_s))
    if isinstance(exc, WorkerUnavailable):
        headers = _retry_after(exc.retry_after_s)
        return ApiError(503, "engine_unavailable", message, headers=headers)
    if isinstance(exc, EngineRequestError):
        return ApiError(400, "invalid_request", message)
    if isinstance(exc, EngineFailure):
        return ApiError(500, "engine_failure", message)
    # WorkerCrashed (already retried once by the supervisor), ShuttingDown, timeouts: retryable.
    return ApiError(503, "engine_unavailable", message, headers=_retry_after(1.0))


def model_error(exc: Exception) -> ApiError:
    if isinstance(exc, InvalidModelNameError):
        return ApiError(400, "invalid_model_name", str(exc), param="model")
    if isinstance(exc, ModelNotFoundError):
        return ApiError(404, "model_not_found", str(exc), param="model")
    if isinstance(exc, ModelTypeError):
        return ApiError(400, "wrong_model_type", str(exc), param="model")
    # The operator's broken install, not the client's request: the details (file paths) go
    # to the server log, the client learns only that the model cannot be used.
    log.error("model.broken", error=str(exc))
    message = "the model is installed but cannot be loaded; the server log says why"
    return ApiError(500, "model_broken", message, param="model")


async def engine_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EngineError)
    return await api_error_handler(request, engine_error(exc))


async def model_error_handler(request: Request, exc: Exception) -> Response:
    return await api_error_handler(request, model_error(exc))


async def decode_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AudioDecodeError)
    if isinstance(exc, AudioLimitError):
        error = ApiError(413, "audio_too_large", str(exc), param="file")
    else:
        error = ApiError(400, "invalid_audio", str(exc), param="file")
    return await api_error_handler(request, error)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    err = ApiError(exc.status_code, code, str(exc.detail), headers=exc.headers)
    return await api_error_handler(request, err)


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler,
    HTTPException: http_exception_handler,
    EngineError: engine_error_handler,
    ModelNotFoundError: model_error_handler,
    ModelLoadError: model_error_handler,
    ModelTypeError: model_error_handler,
    AudioDecodeError: decode_error_handler,
}


class InternalErrorMiddleware:
    """Our own bugs: a 500 with a JSON body that shows nothing of the server (no traceback, no
    path), the traceback in the log. Starlette's last-resort handler re-raises after answering,
    which makes uvicorn drop the keep-alive connection; here the connection stays usable."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:  # too late for an error response: let the server end the connection
                raise
            log.exception("api.internal_error", method=scope.get("method"))
            error = ApiError(500, "internal_error", "internal server error (ours; it is logged)")
            await JSONResponse(error.body(), status_code=500)(scope, receive, send)
