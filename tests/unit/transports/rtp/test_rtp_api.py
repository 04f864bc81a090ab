"""POST /v1/calls through the ASGI app, with the RTP transport on a fake call manager."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mediaserver.api import calls_rtp, errors
from mediaserver.app import create_app
from mediaserver.calls.manager import CallManager, CallRefused
from mediaserver.config import RtpSettings, Settings
from mediaserver.observability import Metrics
from mediaserver.transports.rtp.transport import RtpTransport
from tests.fake_calls import FakeCallManager

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def manager() -> FakeCallManager:
    return FakeCallManager()


@pytest.fixture
async def rtp(manager: FakeCallManager) -> AsyncIterator[RtpTransport]:
    low = random.randrange(30000, 31000)
    transport = RtpTransport(
        RtpSettings(port_min=low, port_max=low + 1, public_host="192.0.2.10"), manager
    )
    yield transport
    await transport.close()


def client(rtp: RtpTransport | None) -> httpx.AsyncClient:
    app = Starlette(routes=calls_rtp.routes, exception_handlers=errors.EXCEPTION_HANDLERS)
    app.state.runtime = SimpleNamespace(rtp=rtp, metrics=Metrics())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_created_call_answers_id_port_and_events_url(
    rtp: RtpTransport, manager: CallManager
) -> None:
    async with client(rtp) as http:
        r = await http.post("/v1/calls", json={"codec": "PCMA", "language": "pt"})
    assert r.status_code == 201
    body = r.json()
    call = manager.get(body["id"])
    assert body == {
        "id": call.id,
        "rtp": {"host": "192.0.2.10", "port": rtp.endpoints()[0].port},
        "events_url": call.events_url,
    }


async def test_empty_body_means_defaults(rtp: RtpTransport) -> None:
    async with client(rtp) as http:
        r = await http.post("/v1/calls")
    assert r.status_code == 201
    assert rtp.endpoints()[0].receiver.format.codec == "PCMU"


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'{"codec": "opus"}', 400, "invalid_request"),
        (b'{"bad": true}', 400, "invalid_request"),
    ],
)
async def test_bad_requests(rtp: RtpTransport, content: bytes, status: int, code: str) -> None:
    async with client(rtp) as http:
        r = await http.post("/v1/calls", content=content)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert rtp.pool.in_use == 0


async def test_refused_and_exhausted(rtp: RtpTransport, manager: FakeCallManager) -> None:
    async with client(rtp) as http:
        manager.fail = CallRefused(503, "draining", "the server is draining")
        r = await http.post("/v1/calls", json={})
        assert (r.status_code, r.json()["error"]["code"]) == (503, "draining")
        manager.fail = None
        for _ in range(2):
            assert (await http.post("/v1/calls", json={})).status_code == 201
        r = await http.post("/v1/calls", json={})
    assert (r.status_code, r.json()["error"]["code"]) == (503, "rtp_ports_exhausted")


async def test_disabled_rtp_is_503() -> None:
    async with client(None) as http:
        r = await http.post("/v1/calls", json={})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "rtp_disabled"


def test_real_app_creates_and_deletes_an_rtp_call(settings: Settings) -> None:
    low = random.randrange(31000, 32000)
    rtp_settings = dataclasses.replace(settings.rtp, port_min=low, port_max=low + 3)
    app = create_app(dataclasses.replace(settings, rtp=rtp_settings))
    with TestClient(app) as http:
        r = http.post("/v1/calls", json={"codec": "PCMU", "vad": {"min_silence_ms": 300}})
        assert r.status_code == 201, r.text
        created = r.json()
        port = created["rtp"]["port"]
        assert low <= port <= low + 3
        detail = http.get(f"/v1/calls/{created['id']}").json()
        assert detail["codec"] == "PCMU"
        assert detail["stats"]["packets_received"] == 0
        assert "packets_malformed" in detail["stats"]
        bad = http.post("/v1/calls", json={"codec": "PCMU", "nonsense": 1})
        assert bad.status_code == 400
        assert http.delete(f"/v1/calls/{created['id']}").status_code in (200, 204)
        rtp = app.state.runtime.rtp
        assert rtp is not None
        # The socket closes on the server loop's next iteration (another thread here).
        deadline = time.monotonic() + 2.0
        while rtp.pool.in_use and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rtp.pool.in_use == 0
