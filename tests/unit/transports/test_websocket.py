from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from mediaserver.api import realtime
from mediaserver.calls.manager import CallRefused, Transport
from mediaserver.config import Settings
from mediaserver.observability import Metrics
from tests.fake_calls import FakeCallManager

pytestmark = pytest.mark.timeout(30)

FRAME_16K = bytes(range(256)) * 2 + bytes(128)  # 320 samples: 20 ms at 16 kHz


class Server:
    def __init__(self, client: TestClient, manager: FakeCallManager, metrics: Metrics) -> None:
        self.client = client
        self.manager = manager
        self.metrics = metrics

    def connect(self, query: str = "model=tiny") -> WebSocketTestSession:
        return self.client.websocket_connect(f"/v1/realtime?{query}")

    def count(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(f"mediaserver_{name}_total")
        assert value is not None
        return value

    def run(self, coro: Any) -> Any:
        assert self.client.portal is not None
        return self.client.portal.call(lambda: coro)


def make_app(manager: FakeCallManager, settings: Settings, metrics: Metrics) -> Starlette:
    app = Starlette(routes=realtime.routes)
    app.state.runtime = SimpleNamespace(calls=manager, settings=settings, metrics=metrics)
    return app


@pytest.fixture
def server(settings: Settings) -> Iterator[Server]:
    manager, metrics = FakeCallManager(), Metrics()
    with TestClient(make_app(manager, settings, metrics)) as client:
        yield Server(client, manager, metrics)


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    event: dict[str, Any] = ws.receive_json()
    return event


def expect_closed(ws: WebSocketTestSession, code: int = 1000) -> None:
    with pytest.raises(WebSocketDisconnect) as info:
        ws.receive_json()
    assert info.value.code == code


def test_session_created_first_then_audio_is_fed(server: Server) -> None:
    with server.connect("model=tiny&language=pt") as ws:
        created = receive(ws)
        assert created["type"] == "session.created"
        assert created["sample_rate"] == 16000
        [call] = server.manager.created
        assert created["call_id"] == call.id
        assert call.transport is Transport.WEBSOCKET
        assert call.options == {"model": "tiny", "language": "pt"}
        assert call.transport_info.codec == "pcm16"
        ws.send_bytes(FRAME_16K)
        ws.send_bytes(FRAME_16K[::-1])
        ws.send_json({"type": "input_audio_buffer.commit"})
        ws.send_json({"type": "session.close"})
        assert receive(ws)["type"] == "session.closed"
        expect_closed(ws)
    assert call.fed == [(FRAME_16K, 16000), (FRAME_16K[::-1], 16000)]
    assert call.commits == 1
    assert call.close_reasons[0] == "requested"
    assert call.transport_info.stats is not None
    stats = call.transport_info.stats()
    assert stats["frames_received"] == 2
    assert stats["bytes_received"] == 2 * len(FRAME_16K)
    assert server.count("realtime_sessions") == 1


def test_configure_before_audio_replaces_the_call_under_the_same_id(server: Server) -> None:
    with server.connect() as ws:
        first = receive(ws)
        ws.send_json({"type": "session.configure", "sample_rate": 8000, "language": "pt"})
        again = receive(ws)
        assert again["type"] == "session.created"
        assert again["call_id"] == first["call_id"]
        assert again["sample_rate"] == 8000
        old, new = server.manager.created
        assert old.close_reasons == ["reconfigured"]
        assert new.options == {"model": "tiny", "language": "pt"}
        ws.send_bytes(FRAME_16K)
        ws.send_json({"type": "session.configure", "sample_rate": 16000})
        error = receive(ws)
        assert error["type"] == "error"
        assert error["code"] == "session_already_started"
        assert error["recoverable"] is True
        ws.send_json({"type": "session.close"})
        assert receive(ws)["type"] == "session.closed"
    assert new.fed == [(FRAME_16K, 8000)]
    assert old.fed == []


def test_invalid_options_are_refused_and_change_nothing(settings: Settings) -> None:
    manager, metrics = FakeCallManager(), Metrics()
    app = make_app(manager, settings, metrics)

    def validate(options: Any) -> None:
        if options.get("vad") == "bogus":
            raise ValueError("vad must be an object")

    async def endpoint(websocket: Any) -> None:
        await websocket.accept()
        session = realtime.RealtimeSession(
            websocket, manager, settings.websocket, metrics, validate=validate
        )
        await session.run()

    app.router.routes.append(WebSocketRoute("/v", endpoint))
    with TestClient(app) as client, client.websocket_connect("/v") as ws:
        receive(ws)
        ws.send_json({"type": "session.configure", "vad": "bogus", "sample_rate": 8000})
        error = receive(ws)
        assert (error["code"], error["recoverable"]) == ("invalid_options", True)
        ws.send_json({"type": "session.configure", "sample_rate": 1})
        assert receive(ws)["code"] == "invalid_sample_rate"
        ws.send_bytes(FRAME_16K)
        ws.send_json({"type": "session.close"})
        assert receive(ws)["type"] == "session.closed"
    [call] = manager.created
    assert call.fed == [(FRAME_16K, 16000)]  # neither configure applied


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"type": 7}', "invalid_message"),
        ('{"type": "response.create"}', "unknown_message_type"),
        ('{"type": "tts.speak", "text": "olá"}', "tts_unavailable"),
        ('{"type": "tts.speak", "text": " "}', "invalid_speak"),
        ('{"type": "tts.speak", "text": "olá", "speed": "fast"}', "invalid_speak"),
    ],
)
def test_bad_text_messages_get_recoverable_errors(server: Server, message: str, code: str) -> None:
    with server.connect() as ws:
        receive(ws)
        ws.send_text(message)
        error = receive(ws)
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["recoverable"] is True
        ws.send_bytes(FRAME_16K)  # the session goes on
        ws.send_json({"type": "session.close"})
        assert receive(ws)["type"] == "session.closed"
    assert server.manager.created[0].fed == [(FRAME_16K, 16000)]
    assert server.count("realtime_bad_messages") == 1


def test_bad_audio_frames_are_dropped_with_an_error(settings: Settings, server: Server) -> None:
    limit = settings.websocket.max_message_bytes
    with server.connect() as ws:
        receive(ws)
        ws.send_bytes(b"\x01\x02\x03")
        assert receive(ws)["code"] == "invalid_audio"
        ws.send_bytes(bytes(limit + 2))
        error = receive(ws)
        assert error["code"] == "message_too_large"
        assert str(limit) in error["message"]
        ws.send_text(json.dumps({"type": "session.configure", "pad": "x" * limit}))
        assert receive(ws)["code"] == "message_too_large"
        ws.send_bytes(bytes(limit))  # exactly the limit is fine (2 s at once: rate-limited)
        ws.send_json({"type": "session.close"})
        assert receive(ws)["type"] == "session.rate_limit"
        assert receive(ws)["type"] == "session.closed"
    assert [len(pcm) for pcm, _ in server.manager.created[0].fed] == [limit]


def test_close_flushes_finals_before_session_closed(server: Server) -> None:
    with server.connect() as ws:
        receive(ws)
        [call] = server.manager.created
        call.final_on_close = {"type": "transcript.final", "call_id": call.id, "text": "x"}
        ws.send_bytes(FRAME_16K)
        ws.send_json({"type": "session.close"})
        assert receive(ws)["type"] == "transcript.final"
        closed = receive(ws)
        assert (closed["type"], closed["reason"]) == ("session.closed", "requested")
        expect_closed(ws)


def test_cancel_drops_pending_results_and_closes(server: Server) -> None:
    with server.connect() as ws:
        receive(ws)
        [call] = server.manager.created
        call.final_on_close = {"type": "transcript.final", "call_id": call.id, "text": "x"}
        ws.send_bytes(FRAME_16K)
        ws.send_json({"type": "session.cancel"})
        closed = receive(ws)
        assert (closed["type"], closed["reason"]) == ("session.closed", "cancelled")
        expect_closed(ws)
    assert call.close_reasons == ["cancelled"]


def test_client_disconnect_closes_the_call(server: Server) -> None:
    with server.connect() as ws:
        receive(ws)
        ws.send_bytes(FRAME_16K)
        ws.close(1001)  # going away, without session.close
        [call] = server.manager.created
        server.run(call.wait_closed())
    assert call.close_reasons[0] == "disconnected"


def test_call_ended_by_the_server_closes_the_socket(server: Server) -> None:
    with server.connect() as ws:
        receive(ws)
        [call] = server.manager.created
        server.run(call.close("init_timeout"))
        closed = receive(ws)
        assert (closed["type"], closed["reason"]) == ("session.closed", "init_timeout")
        expect_closed(ws)


def test_call_events_are_forwarded(server: Server) -> None:
    with server.connect() as ws:
        receive(ws)
        [call] = server.manager.created
        call.emit({"type": "vad.speech_start", "call_id": call.id, "audio_ms": 120})
        assert receive(ws) == {"type": "vad.speech_start", "call_id": call.id, "audio_ms": 120}
        ws.send_json({"type": "session.close"})
        assert receive(ws)["type"] == "session.closed"


def test_fast_client_is_rate_limited_and_the_backlog_is_bounded(server: Server) -> None:
    frame = bytes(6400)  # 200 ms at 16 kHz
    started = time.monotonic()
    with server.connect() as ws:
        receive(ws)
        for _ in range(150):  # 30 s of audio, sent as fast as possible
            ws.send_bytes(frame)
        ws.send_json({"type": "session.close"})
        events = []
        while (event := receive(ws))["type"] != "session.closed":
            events.append(event)
    elapsed = time.monotonic() - started
    kinds = [e["type"] for e in events]
    assert kinds.count("session.rate_limit") == 1
    drops = [e for e in events if e["type"] == "session.frames_dropped"]
    assert drops
    assert kinds.index("session.rate_limit") < kinds.index("session.frames_dropped")
    dropped = sum(e["count"] for e in drops)
    [call] = server.manager.created
    assert dropped + len(call.fed) == 150
    # The 10 s backlog plus at most the wall time the test took was accepted.
    assert 10.0 - 0.2 <= len(call.fed) * 0.2 <= 10.0 + elapsed + 0.2
    assert server.count("realtime_frames_dropped") == dropped
    assert server.count("realtime_rate_limited") == 1


def test_refused_call_gets_an_error_and_close(server: Server) -> None:
    server.manager.fail = CallRefused(503, "draining", "the server is shutting down")
    with server.connect() as ws:
        error = receive(ws)
        assert (error["type"], error["code"], error["recoverable"]) == ("error", "draining", False)
        expect_closed(ws, 1013)


def test_invalid_query_options_get_an_error_and_close(server: Server) -> None:
    server.manager.fail = ValueError("unknown model")
    with server.connect() as ws:
        assert receive(ws)["code"] == "invalid_options"
        expect_closed(ws, 1008)
    server.manager.fail = None
    with server.connect("sample_rate=abc") as ws:
        assert receive(ws)["code"] == "invalid_sample_rate"
        expect_closed(ws, 1008)


def test_query_sample_rate(server: Server) -> None:
    with server.connect("sample_rate=8000") as ws:
        assert receive(ws)["sample_rate"] == 8000
        ws.send_bytes(FRAME_16K)
        ws.send_json({"type": "session.close"})
        receive(ws)
    assert server.manager.created[0].fed == [(FRAME_16K, 8000)]


def test_one_session_failing_does_not_affect_another(server: Server) -> None:
    with server.connect() as good, server.connect() as bad:
        receive(good)
        receive(bad)
        good_call, bad_call = server.manager.created
        bad.send_text("{garbage")
        receive(bad)
        bad.send_json({"type": "session.cancel"})
        receive(bad)
        good.send_bytes(FRAME_16K)
        good.send_json({"type": "input_audio_buffer.commit"})
        good_call.emit({"type": "vad.speech_start", "call_id": good_call.id, "audio_ms": 0})
        assert receive(good)["type"] == "vad.speech_start"
        good.send_json({"type": "session.close"})
        assert receive(good)["type"] == "session.closed"
    assert good_call.fed == [(FRAME_16K, 16000)]
    assert good_call.commits == 1
    assert bad_call.close_reasons == ["cancelled"]


def test_replacement_refused_ends_the_session(server: Server) -> None:
    with server.connect() as ws:
        receive(ws)
        server.manager.fail = CallRefused(503, "draining", "the server is shutting down")
        ws.send_json({"type": "session.configure", "language": "pt"})
        error = receive(ws)
        assert (error["code"], error["recoverable"]) == ("draining", False)
        expect_closed(ws)
    [old] = server.manager.created
    assert old.close_reasons[0] == "reconfigured"
