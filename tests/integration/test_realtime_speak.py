"""tts.speak / tts.cancel on WS /v1/realtime: binary PCM16 at the session's input rate, paced."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from mediaserver.app import create_app
from mediaserver.calls.manager import CallManager
from mediaserver.config import Settings
from tests.unit.calls.speaker_fakes import ToneSynthesizer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        calls: CallManager = client.app.state.runtime.calls  # type: ignore[attr-defined]
        calls.synthesizer = ToneSynthesizer(seconds=0.5, rate=24000)
        yield client


def close(ws: Any) -> None:
    ws.send_json({"type": "session.close"})
    while True:
        message = ws.receive()
        if message.get("text") and json.loads(message["text"])["type"] == "session.closed":
            return


def until_end(ws: Any) -> tuple[list[dict[str, Any]], list[tuple[float, bytes]]]:
    events: list[dict[str, Any]] = []
    audio: list[tuple[float, bytes]] = []
    while not events or events[-1]["type"] != "tts.speaking_end":
        message = ws.receive()
        if message.get("bytes") is not None:
            audio.append((time.monotonic(), message["bytes"]))
        else:
            events.append(json.loads(message["text"]))
    return events, audio


@pytest.mark.parametrize("rate", [8000, 16000])
def test_speak_sends_paced_binary_audio_at_the_input_rate(client: TestClient, rate: int) -> None:
    with client.websocket_connect(f"/v1/realtime?sample_rate={rate}") as ws:
        assert ws.receive_json()["type"] == "session.created"
        ws.send_json({"type": "tts.speak", "text": "Seu saldo é de R$ 10,00."})
        events, audio = until_end(ws)
        types = [e["type"] for e in events]
        assert types[-2:] == ["tts.speaking_start", "tts.speaking_end"]
        assert events[-1]["cancelled"] is False
        frame = rate // 50 * 2
        assert {len(chunk) for _, chunk in audio} == {frame}
        assert len(audio) == 25  # 0.5 s in 20 ms frames
        assert audio[-1][0] - audio[0][0] > 0.4  # paced in real time, not a burst
        close(ws)


def test_cancel_ends_the_utterance(client: TestClient) -> None:
    calls: CallManager = client.app.state.runtime.calls  # type: ignore[attr-defined]
    calls.synthesizer = ToneSynthesizer(seconds=5.0)
    with client.websocket_connect("/v1/realtime") as ws:
        assert ws.receive_json()["type"] == "session.created"
        ws.send_json({"type": "tts.speak", "text": "Uma frase bem longa."})
        while True:
            message = ws.receive()
            if message.get("text") and "tts." in message["text"]:
                break
        assert json.loads(message["text"])["type"] == "tts.speaking_start"
        ws.send_json({"type": "tts.cancel"})
        events, audio = until_end(ws)
        assert events[-1]["cancelled"] is True
        assert len(audio) < 100  # far less than the 250 frames of 5 s
        close(ws)


@pytest.mark.needs_espeak
def test_real_speech_through_the_speech_service(settings: Settings) -> None:
    """The app's own synthesizer: the speech service and the builtin espeak-ng worker."""
    with (
        TestClient(create_app(settings)) as client,
        client.websocket_connect("/v1/realtime?sample_rate=8000") as ws,
    ):
        assert ws.receive_json()["type"] == "session.created"
        ws.send_json({"type": "tts.speak", "text": "Bom dia!", "voice": "nenhuma"})
        message = ws.receive_json()
        while message["type"] != "error" or message["code"] == "model_not_found":
            message = ws.receive_json()
        assert message["code"] == "invalid_speech"  # the message lists the voices to use
        ws.send_json({"type": "tts.speak", "text": "Seu saldo é de R$ 10,50."})
        events, audio = until_end(ws)
        assert [e["type"] for e in events] == ["tts.speaking_start", "tts.speaking_end"]
        seconds = sum(len(chunk) for _, chunk in audio) / 2 / 8000
        assert 1.0 < seconds < 6.0
        close(ws)
