"""POST /v1/webrtc/offer through the ASGI app, with a recording call manager."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from mediaserver.app import create_app
from mediaserver.calls.types import CallRefused
from mediaserver.config import Settings, load_settings
from tests.fake_calls import FakeCallManager
from tests.unit.transports.webrtc_client import Client

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    application.state.runtime.calls = FakeCallManager()
    try:
        yield application
    finally:
        await application.state.runtime.webrtc.close()


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_offer_is_answered_with_the_call_id(app: Starlette, http: httpx.AsyncClient) -> None:
    client = Client()
    try:
        sdp = await client.offer()
        r = await http.post(
            "/v1/webrtc/offer", json={"sdp": sdp, "type": "offer", "language": "pt"}
        )
        assert r.status_code == 201
        body = r.json()
        manager: FakeCallManager = app.state.runtime.calls
        (call,) = manager.created
        assert body["type"] == "answer"
        assert body["id"] == call.id
        assert body["events_url"] == call.events_url
        assert body["sdp"].startswith("v=0")
        assert call.options == {"language": "pt"}  # sdp and type are not call options
        await client.accept(body["sdp"])
    finally:
        await client.pc.close()


def error(r: httpx.Response) -> dict[str, Any]:
    e: dict[str, Any] = r.json()["error"]
    return e


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{nope", "invalid_json"),
        (b"[1]", "invalid_json"),
        (json.dumps({"type": "offer"}).encode(), "invalid_sdp"),
        (json.dumps({"sdp": "", "type": "offer"}).encode(), "invalid_sdp"),
        (json.dumps({"sdp": "v=0\r\n", "type": 3}).encode(), "invalid_sdp"),
        (json.dumps({"sdp": "v=0\r\n", "type": "offer"}).encode(), "invalid_sdp"),
        (json.dumps({"sdp": "garbage", "type": "answer"}).encode(), "invalid_sdp"),
    ],
)
async def test_bad_bodies_are_400(
    app: Starlette, http: httpx.AsyncClient, body: bytes, code: str
) -> None:
    r = await http.post("/v1/webrtc/offer", content=body)
    assert r.status_code == 400
    assert error(r)["code"] == code
    assert error(r)["type"] == "invalid_request_error"
    assert app.state.runtime.calls.created == []
    assert app.state.runtime.webrtc.peer_count == 0


async def test_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/webrtc/offer", content=b" " * (64 * 1024 + 1))
    assert r.status_code == 413


async def test_bad_options_and_refusals(app: Starlette, http: httpx.AsyncClient) -> None:
    client = Client()
    try:
        sdp = await client.offer()
        r = await http.post("/v1/webrtc/offer", json={"sdp": sdp, "type": "offer", "model": "bad"})
        assert r.status_code == 400
        assert error(r) == {
            "message": "unknown model 'bad'",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_call_options",
        }
        app.state.runtime.calls.fail = CallRefused(503, "draining", "the server is draining")
        r = await http.post("/v1/webrtc/offer", json={"sdp": sdp, "type": "offer"})
        assert r.status_code == 503
        assert error(r)["code"] == "draining"
    finally:
        await client.pc.close()
    assert app.state.runtime.webrtc.peer_count == 0


async def test_offer_needs_the_api_key_when_keys_are_set(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"MEDIASERVER_MODELS_DIR": str(tmp_path), "MEDIASERVER_API_KEYS": "k-1"}
    )
    application = create_app(settings)
    application.state.runtime.calls = FakeCallManager()
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        r = await http.post("/v1/webrtc/offer", json={"sdp": "v=0", "type": "offer"})
        assert r.status_code == 401
        assert (await http.get("/")).status_code == 200  # the page itself is public
        r = await http.post(
            "/v1/webrtc/offer",
            json={"sdp": "v=0", "type": "offer"},
            headers={"Authorization": "Bearer k-1"},
        )
        assert r.status_code == 400  # past auth: the SDP is what is wrong
    assert application.state.runtime.calls.created == []
