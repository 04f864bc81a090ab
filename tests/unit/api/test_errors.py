"""Engine, model and audio errors map to HTTP in one place, saying whose fault and when to retry."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from mediaserver.api.errors import EXCEPTION_HANDLERS, InternalErrorMiddleware
from mediaserver.audio.decode import AudioDecodeError, AudioLimitError
from mediaserver.engines.base import InvalidModelNameError, ModelLoadError, ModelNotFoundError
from mediaserver.engines.errors import (
    EngineFailure,
    EngineRequestError,
    QueueFullError,
    ShuttingDown,
    WorkerCrashed,
    WorkerStartError,
    WorkerUnavailable,
)
from mediaserver.engines.supervision.build import ModelTypeError


def client_raising(exc: Exception) -> TestClient:
    async def fail(request: Request) -> Response:
        raise exc

    app = Starlette(routes=[Route("/x", fail)], exception_handlers=EXCEPTION_HANDLERS)
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("exc", "status", "code", "retry_after"),
    [
        (QueueFullError("m", 2.4), 503, "queue_full", "3"),
        (WorkerUnavailable("crashed too often", retry_after_s=30), 503, "engine_unavailable", "30"),
        (WorkerStartError("cannot load"), 503, "engine_unavailable", None),
        (WorkerCrashed("died twice"), 503, "engine_unavailable", "1"),
        (ShuttingDown("draining"), 503, "engine_unavailable", "1"),
        (EngineRequestError("language 'xx' is not one this model knows"), 400, "invalid_request",
         None),
        (EngineFailure("engine error: boom"), 500, "engine_failure", None),
        (ModelNotFoundError("big"), 404, "model_not_found", None),
        (ModelTypeError("model 'espeak-ng' is a tts model"), 400, "wrong_model_type", None),
        (InvalidModelNameError("../x", "invalid model name '../x'"), 400, "invalid_model_name",
         None),
        (AudioDecodeError("empty input"), 400, "invalid_audio", None),
        (AudioLimitError("audio longer than the limit of 7200 s"), 413, "audio_too_large", None),
    ],
)  # fmt: skip
def test_mapping(exc: Exception, status: int, code: str, retry_after: str | None) -> None:
    r = client_raising(exc).get("/x")
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code
    assert error["message"] == str(exc)
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    assert r.headers.get("retry-after") == retry_after


def test_broken_model_answer_hides_the_server_paths() -> None:
    exc = ModelLoadError("/srv/models/x/manifest.json names 'y', not 'x'")
    r = client_raising(exc).get("/x")
    assert (r.status_code, r.json()["error"]["code"]) == (500, "model_broken")
    assert "/srv" not in r.text
    assert "cannot be loaded" in r.json()["error"]["message"]


def test_missing_model_message_names_the_command() -> None:
    r = client_raising(ModelNotFoundError("faster-whisper-small")).get("/x")
    assert "mediaserver pull faster-whisper-small" in r.json()["error"]["message"]
    assert r.json()["error"]["param"] == "model"


def test_our_bugs_are_a_json_500_that_shows_nothing_and_is_not_re_raised() -> None:
    async def buggy(request: Request) -> Response:
        raise KeyError("/srv/secret/path")

    app = Starlette(
        routes=[Route("/x", buggy)],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(InternalErrorMiddleware)],
    )
    # raise_server_exceptions=True: had the middleware re-raised (what makes uvicorn drop the
    # keep-alive connection), the client would raise here.
    r = TestClient(app).get("/x")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "/srv" not in r.text
    assert "KeyError" not in r.text
