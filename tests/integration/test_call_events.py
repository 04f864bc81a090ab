"""The /v1/calls routes and the events WebSocket, through the real app and its lifespan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from mediaserver.api.calls import api_error
from mediaserver.app import create_app
from mediaserver.calls.manager import Call, CallManager, CallRefused, Transport, TransportInfo
from mediaserver.config import Settings
from mediaserver.session.call_options import CallOptionsError
from tests.call_audio import PHRASES, frames, silence, speech
from tests.unit.transports.webrtc_client import Client


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def manager(client: TestClient) -> CallManager:
    calls: CallManager = client.app.state.runtime.calls  # type: ignore[attr-defined]
    return calls


def create(client: TestClient, transport: Transport, **info: Any) -> Call:
    """Create a call on the app's event loop, as a transport would."""

    async def run() -> Call:
        return manager(client).create(transport, {}, TransportInfo(**info))

    assert client.portal is not None
    return client.portal.call(run)


def receive_until_closed(ws: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] != "session.closed":
        events.append(ws.receive_json())
    return events


def test_list_detail_and_unknown_ids(client: TestClient) -> None:
    assert client.get("/v1/calls").json() == {"object": "list", "data": []}
    rtp = create(client, Transport.RTP, codec="PCMU", remote="127.0.0.1:5004")
    ws = create(client, Transport.WEBSOCKET, codec="L16")

    listed = client.get("/v1/calls").json()["data"]
    assert sorted(listed, key=lambda c: c["transport"]) == [
        {"id": rtp.id, "transport": "rtp", "state": "init", "events_url": rtp.events_url},
        {"id": ws.id, "transport": "websocket", "state": "init", "events_url": ws.events_url},
    ]
    detail = client.get(f"/v1/calls/{rtp.id}").json()
    assert detail["codec"] == "PCMU"
    assert detail["remote"] == "127.0.0.1:5004"
    for key in ("packets_received", "packets_lost", "packets_rejected", "concealed_ms"):
        assert detail["stats"][key] == 0

    for method in (client.get, client.delete):
        r = method("/v1/calls/nope")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "call_not_found"
    with (
        pytest.raises(WebSocketDisconnect) as exc,
        client.websocket_connect("/v1/calls/nope/events"),
    ):
        pass
    assert exc.value.code == 4404


def test_delete_closes_the_call_and_every_subscriber_sees_it(client: TestClient) -> None:
    call = create(client, Transport.AUDIOSOCKET)
    url = f"/v1/calls/{call.id}/events"
    with client.websocket_connect(url) as first, client.websocket_connect(url) as second:
        assert first.receive_json()["type"] == "session.created"
        assert second.receive_json()["type"] == "session.created"
        r = client.delete(f"/v1/calls/{call.id}")
        assert r.status_code == 200
        assert r.json() == {"id": call.id, "object": "call", "deleted": True, "state": "closed"}
        got = [receive_until_closed(first), receive_until_closed(second)]
        assert got[0] == got[1]
        assert got[0][-1]["reason"] == "requested"
        assert [(e["from"], e["to"]) for e in got[0] if e["type"] == "session.state"] == [
            ("init", "closing"),
            ("closing", "closed"),
        ]
        with pytest.raises(WebSocketDisconnect) as exc:
            first.receive_json()
        assert exc.value.code == 1000
    assert client.get(f"/v1/calls/{call.id}").status_code == 404
    assert client.get("/v1/calls").json()["data"] == []


@pytest.mark.needs_espeak
def test_events_of_a_fed_call_as_json(client: TestClient) -> None:
    rate = 8000
    call = create(client, Transport.RTP, codec="PCMU")
    audio = np.concatenate([silence(0.4, rate), speech(PHRASES[0], rate), silence(1.0, rate)])

    async def talk() -> None:
        for i, frame in enumerate(frames(audio, rate)):
            call.feed(frame.tobytes(), rate)
            if i % 10 == 9:
                await asyncio.sleep(0.002)
        call.dtmf("#")
        await asyncio.sleep(0.1)

    with client.websocket_connect(call.events_url) as ws:
        assert ws.receive_json()["type"] == "session.created"
        assert client.portal is not None
        client.portal.call(talk)
        client.delete(f"/v1/calls/{call.id}")
        events = receive_until_closed(ws)
    kinds = [e["type"] for e in events]
    assert kinds.count("vad.speech_start") == 1
    assert kinds.count("vad.speech_end") == 1
    assert kinds.count("error") == 0  # no STT model here: a call without transcripts, no error
    assert {"type": "dtmf", "digit": "#"}.items() <= events[kinds.index("dtmf")].items()
    start = events[kinds.index("vad.speech_start")]
    assert list(start) == ["type", "call_id", "audio_ms"]
    assert start["call_id"] == call.id


def test_shutdown_closes_live_calls(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        call = create(client, Transport.WEBRTC)
        with client.websocket_connect(call.events_url) as ws:
            ws.receive_json()
    # Leaving the client ran the lifespan's shutdown: the call was closed, not abandoned.
    assert call.state == "closed"


def test_a_client_leaving_unsubscribes(client: TestClient) -> None:
    call = create(client, Transport.WEBSOCKET)
    with client.websocket_connect(call.events_url) as ws:
        ws.receive_json()
        assert call.info(detail=True)["subscribers"] == 1
    for _ in range(100):
        if call.info(detail=True)["subscribers"] == 0:
            break
        time.sleep(0.01)
    assert call.info(detail=True)["subscribers"] == 0
    assert call.state == "init"  # the call itself goes on


def test_create_errors_map_to_json() -> None:
    """The mapping a call-creating route (POST /v1/calls, WebRTC offer) uses."""
    bad = api_error(CallOptionsError("vad.sensitivity", "vad.sensitivity must be one of ..."))
    assert bad.status == 400
    assert bad.body()["error"]["param"] == "vad.sensitivity"
    assert bad.body()["error"]["code"] == "invalid_call_options"
    busy = api_error(CallRefused(503, "draining", "the server is shutting down"))
    assert (busy.status, busy.code, dict(busy.headers or {})) == (
        503,
        "draining",
        {"Retry-After": "5"},
    )


def test_a_call_whose_model_is_missing_is_refused_at_creation_on_every_route(
    client: TestClient,
) -> None:
    """POST /v1/calls, the WebRTC offer, WS /v1/realtime and its session.configure: 404
    `model_not_found` naming the pull command, not a call that silently never transcribes."""
    r = client.post("/v1/calls", json={"codec": "PCMU", "model": "faster-whisper-small"})
    assert r.status_code == 404
    error = r.json()["error"]
    assert (error["code"], error["param"]) == ("model_not_found", "model")
    assert "mediaserver pull faster-whisper-small" in error["message"]
    assert client.get("/v1/calls").json()["data"] == []

    async def offer() -> str:
        peer = Client()
        try:
            return await peer.offer()
        finally:
            await peer.pc.close()

    assert client.portal is not None
    sdp = client.portal.call(offer)
    body = {"sdp": sdp, "type": "offer", "model": "faster-whisper-small"}
    r = client.post("/v1/webrtc/offer", json=body)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"

    with client.websocket_connect("/v1/realtime?model=faster-whisper-small") as ws:
        refused = ws.receive_json()
        assert (refused["type"], refused["code"]) == ("error", "model_not_found")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008
    with client.websocket_connect("/v1/realtime") as ws:
        created = ws.receive_json()
        assert (created["type"], created["model"]) == ("session.created", None)
        ws.send_json({"type": "session.configure", "model": "faster-whisper-small"})
        refused = ws.receive_json()
        assert (refused["code"], refused["recoverable"]) == ("model_not_found", True)
        ws.send_json({"type": "session.close"})
        assert ws.receive_json()["type"] == "session.state"
    assert client.get("/v1/calls").json()["data"] == []

    # Asked for explicitly, a call without speech recognition is still possible.
    r = client.post("/v1/calls", json={"codec": "PCMU", "model": None})
    assert r.status_code == 201, r.text
    assert client.delete(f"/v1/calls/{r.json()['id']}").status_code == 200
    metrics = client.get("/metrics").text
    assert 'mediaserver_api_errors_total{code="model_not_found"} 2.0' in metrics
