from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hmac
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from structlog.testing import capture_logs

from mediaserver.api import auth
from mediaserver.api.auth import ApiKeyMiddleware
from mediaserver.app import create_app
from mediaserver.config import Settings

KEYS = ("k-first-0123456789", "k-second-abcdefghij")
GOOD = KEYS[1]


async def echo_http(request: Request) -> Response:
    return JSONResponse({"query": request.url.query})


async def page(request: Request) -> Response:
    return PlainTextResponse("page")


async def echo_ws(websocket: WebSocket) -> None:
    """Accepts without choosing a subprotocol and reports what the route can see."""
    await websocket.accept()
    await websocket.send_json(
        {
            "headers": {k.decode(): v.decode() for k, v in websocket.scope["headers"]},
            "subprotocols": websocket.scope["subprotocols"],
            "query": websocket.scope["query_string"].decode(),
        }
    )
    await websocket.close()


def make_app(keys: tuple[str, ...] = KEYS) -> Starlette:
    routes = [
        Route("/v1/thing", echo_http, methods=["GET", "POST"]),
        Route("/health", page),
        Route("/", page),
        Route("/static/app.js", page),
        WebSocketRoute("/v1/ws", echo_ws),
    ]
    return Starlette(routes=routes, middleware=[Middleware(ApiKeyMiddleware, keys=keys)])


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app()) as c:
        yield c


def test_no_keys_configured_lets_everything_through() -> None:
    with TestClient(make_app(keys=())) as c:
        assert c.get("/v1/thing").status_code == 200
        with c.websocket_connect("/v1/ws") as ws:
            assert ws.receive_json()["query"] == ""


@pytest.mark.parametrize("path", ["/health", "/", "/static/app.js"])
def test_public_paths_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {GOOD}"},
        {"Authorization": f"bearer   {GOOD}"},
        {"X-API-Key": GOOD},
        {"X-API-Key": KEYS[0]},
    ],
)
def test_rest_accepts_key_in_header(client: TestClient, headers: dict[str, str]) -> None:
    assert client.get("/v1/thing", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {GOOD[:-1]}"},
        {"Authorization": f"Bearer {GOOD}x"},
        {"Authorization": f"Basic {GOOD}"},
        {"Authorization": "Bearer "},
        {"X-API-Key": ""},
        {"X-API-Key": GOOD.upper()},
    ],
)
def test_rest_refuses_missing_or_wrong_key(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/v1/thing", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    error = r.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    assert GOOD not in r.text


@pytest.mark.parametrize("query", [f"api_key={GOOD}", "api_key=", f"a=1&api_key={GOOD}"])
def test_rest_never_accepts_key_in_url(client: TestClient, query: str) -> None:
    # Even with a valid header: the key in the URL has leaked and the client must know.
    r = client.get(f"/v1/thing?{query}", headers={"X-API-Key": GOOD})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "api_key_in_url"


def test_rest_other_query_parameters_pass(client: TestClient) -> None:
    r = client.get("/v1/thing?model=x&key=y", headers={"X-API-Key": GOOD})
    assert r.json() == {"query": "model=x&key=y"}


def test_websocket_key_in_header_is_hidden_from_the_route(client: TestClient) -> None:
    with client.websocket_connect("/v1/ws", headers={"Authorization": f"Bearer {GOOD}"}) as ws:
        seen = ws.receive_json()
    assert "authorization" not in seen["headers"]
    assert GOOD not in str(seen)


def test_websocket_key_in_query_is_hidden_from_the_route(client: TestClient) -> None:
    with client.websocket_connect(f"/v1/ws?model=m&api_key={GOOD}") as ws:
        seen = ws.receive_json()
    assert seen["query"] == "model=m"
    assert GOOD not in str(seen)


def test_websocket_key_as_subprotocol(client: TestClient) -> None:
    offered = ["mediaserver", f"{auth.SUBPROTOCOL_PREFIX}{GOOD}"]
    with client.websocket_connect("/v1/ws", subprotocols=offered) as ws:
        seen = ws.receive_json()
        # The route accepted without choosing; browsers need one of their offers back.
        assert ws.accepted_subprotocol == "mediaserver"
    assert seen["subprotocols"] == ["mediaserver"]
    assert seen["headers"]["sec-websocket-protocol"] == "mediaserver"
    assert GOOD not in str(seen)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"headers": {"X-API-Key": "wrong"}},
        {"subprotocols": ["mediaserver", f"{auth.SUBPROTOCOL_PREFIX}wrong"]},
        {"subprotocols": [auth.SUBPROTOCOL_PREFIX]},
    ],
)
def test_websocket_refused_with_401_before_accept(
    client: TestClient, kwargs: dict[str, Any]
) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/v1/ws", **kwargs),
    ):
        pass
    assert denied.value.status_code == 401
    assert denied.value.json()["error"]["code"] == "invalid_api_key"


def test_websocket_refused_in_url_when_wrong(client: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse), client.websocket_connect("/v1/ws?api_key=bad"):
        pass


async def test_websocket_without_denial_extension_closes_with_policy_violation() -> None:
    sent: list[dict[str, Any]] = []
    reached = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/v1/ws",
        "headers": [],
        "query_string": b"",
        "subprotocols": [],
        "client": ("10.1.2.3", 5000),
    }
    await ApiKeyMiddleware(app, KEYS)(scope, receive, send)
    assert not reached
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


def test_rejection_is_logged_without_the_key(client: TestClient) -> None:
    with capture_logs() as logs:
        client.get("/v1/thing", headers={"X-API-Key": "secret-attempt-42"})
        client.get(f"/v1/thing?api_key={GOOD}")
    rejected = [e for e in logs if e["event"] == "auth.rejected"]
    assert [e["reason"] for e in rejected] == ["invalid_key", "key_in_url"]
    assert all(e["client"] == "testclient" for e in rejected)
    assert "secret-attempt-42" not in str(logs)
    assert GOOD not in str(logs)


def test_every_key_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        result = real(a, b)
        calls.append(result)
        return result

    monkeypatch.setattr(hmac, "compare_digest", counting)
    middleware = ApiKeyMiddleware(make_app(), ("a", "b", "c"))
    assert middleware.accepts("a")
    assert calls == [True, False, False]
    calls.clear()
    assert not middleware.accepts("zz")
    assert calls == [False, False, False]


def test_app_protects_metrics_but_not_the_probes(settings: Settings) -> None:
    server = dataclasses.replace(settings.server, api_keys=KEYS)
    app = create_app(dataclasses.replace(settings, server=server))
    with TestClient(app) as c:
        assert c.get("/health").json() == {"status": "ok"}
        # A probe has no key: /ready answers it, and tells it nothing but the status.
        assert c.get("/ready").json() == {"status": "ready"}
        assert c.get("/ready", headers={"X-API-Key": "wrong"}).json() == {"status": "ready"}
        assert c.get("/metrics").status_code == 401
        detailed = c.get("/ready", headers={"X-API-Key": GOOD}).json()
        assert detailed["status"] == "ready"
        assert "models" in detailed
        assert c.get("/nope", headers={"X-API-Key": GOOD}).status_code == 404


def test_disconnect_before_accept_is_not_swallowed() -> None:
    # A route that refuses on its own still works behind the middleware.
    async def refuse(websocket: WebSocket) -> None:
        await websocket.close(code=4000)

    app = Starlette(
        routes=[WebSocketRoute("/ws", refuse)],
        middleware=[Middleware(ApiKeyMiddleware, keys=KEYS)],
    )
    with (
        TestClient(app) as c,
        pytest.raises(WebSocketDisconnect) as closed,
        c.websocket_connect("/ws", headers={"X-API-Key": GOOD}) as ws,
    ):
        ws.receive_text()
    assert closed.value.code == 4000


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)


def test_uvicorn_log_lines_lose_keys_in_urls() -> None:
    record = _record('%s - "WebSocket %s" %d', "1.2.3.4:5", f"/v1/ws?a=1&API_KEY={GOOD}&b=2", 401)
    assert auth.UvicornLogFilter().filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "WebSocket /v1/ws?a=1&API_KEY=***&b=2" 401'
    record = _record(f"GET /x?api_key={GOOD}")
    assert auth.UvicornLogFilter().filter(record)
    assert GOOD not in record.getMessage()


async def test_handshake_noise_dropped_only_for_refused_websockets() -> None:
    noise = "ASGI callable returned without completing handshake."
    log_filter = auth.UvicornLogFilter()

    async def serve(headers: list[tuple[bytes, bytes]]) -> bool:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            pass  # a route that forgets its handshake: uvicorn's error must stay

        async def send(message: Any) -> None:
            pass

        scope = {"type": "websocket", "path": "/v1/ws", "headers": headers, "client": None}
        await ApiKeyMiddleware(app, KEYS)(scope, _never, send)
        return log_filter.filter(_record(noise))

    # Each connection runs in its own task (own context), as under uvicorn.
    assert not await asyncio.create_task(serve([]), context=contextvars.Context())
    good = [(b"x-api-key", GOOD.encode())]
    assert await asyncio.create_task(serve(good), context=contextvars.Context())


async def _never() -> dict[str, Any]:
    raise AssertionError("not reached")
