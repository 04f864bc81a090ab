"""A WebRTC call from headless Chromium to the real server: the demo page in kiosk mode, its
fake microphone playing espeak-ng pt-BR speech, the real call core (VAD, session, a tiny
random-weight CTC engine) behind it.

The server-side events (WS /v1/calls/{id}/events) are the source of truth; the page's copy,
received over the `events` data channel, must be the same stream.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from mediaserver.app import create_app
from mediaserver.config import Settings
from mediaserver.engines.models.registry import Registry
from tests.e2e.webrtc_chromium import (
    ESPEAK,
    Chromium,
    SpeechFile,
    have_chromium,
    serve,
    speech_wav,
)
from tests.tiny_models import build_tiny_wenet_ctc
from tests.unit.transports.webrtc_client import until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.needs_espeak,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not have_chromium() or ESPEAK is None, reason="needs chromium + espeak-ng"),
]

PHRASES = [
    "Bom dia, eu gostaria de saber o saldo da minha conta.",
    "Quero fazer um pix de cem reais.",
]
GAP_S = 2.0  # silence around each phrase: well over the VAD's min_silence_ms (500)
# A VAD segment is the speech plus speech_pad_ms on each side; its edges may move by the VAD's
# granularity (32 ms chunks) and the speech's soft edges (the runs here use a -40 dBFS floor).
EDGE_TOLERANCE_S = 0.15
# Every start is (speech start - pad - where the call's first sample fell in the file's loop),
# so their offsets into the loop agree closely.
SPACING_TOLERANCE_S = 0.1


async def events_of(url: str, into: list[dict[str, Any]]) -> None:
    async with websockets.connect(url) as ws:
        async for message in ws:
            into.append(json.loads(message))
            if into[-1]["type"] == "session.closed":
                return


def segments(events: list[dict[str, Any]]) -> list[tuple[float, float]]:
    starts = [e["audio_ms"] / 1000 for e in events if e["type"] == "vad.speech_start"]
    ends = [e["audio_ms"] / 1000 for e in events if e["type"] == "vad.speech_end"]
    return list(zip(starts, ends, strict=False))


def check_against_speech(
    found: list[tuple[float, float]], speech: SpeechFile, rate: int, pad_s: float
) -> None:
    """Each VAD segment is one phrase of the looping file (padded), at one consistent offset."""
    sent = [(start - pad_s, end + pad_s) for start, end in speech.runs(rate)]
    offsets = []
    for start, end in found:
        phrase = min(sent, key=lambda run: abs((end - start) - (run[1] - run[0])))
        assert abs((end - start) - (phrase[1] - phrase[0])) < EDGE_TOLERANCE_S, (found, sent)
        offsets.append((start - phrase[0]) % speech.duration_s)
    spread = max(offsets) - min(offsets)
    assert min(spread, speech.duration_s - spread) < SPACING_TOLERANCE_S, (offsets, found, sent)


async def test_chromium_call_through_the_demo_page(settings: Settings, tmp_path: Path) -> None:
    Registry.from_settings(settings).import_dir(
        build_tiny_wenet_ctc(tmp_path / "tiny-wenet"), name="tiny-wenet", engine="wenet-ctc"
    )
    speech = speech_wav(tmp_path / "mic.wav", PHRASES, gap_s=GAP_S)
    app = create_app(settings)
    runtime = app.state.runtime
    page_url = "/?autostart=1&model=tiny-wenet&language=pt"
    async with (
        serve(app) as base,
        Chromium.open(base + page_url, speech.path, tmp_path / "p") as page,
    ):
        await until(lambda: bool(runtime.calls.calls()), 30)
        (call,) = runtime.calls.calls()
        ws_url = base.replace("http", "ws", 1) + call.events_url
        server_events: list[dict[str, Any]] = []
        listener = asyncio.create_task(events_of(ws_url, server_events))

        # The first segment may be cut (the call's audio can begin mid-phrase): wait for three
        # more, whole ones, a loop and a half of the file.
        await until(lambda: len(segments(server_events)) >= 4, 3 * speech.duration_s + 20)
        async with httpx.AsyncClient() as http:
            info = (await http.get(f"{base}/v1/calls/{call.id}")).json()
        assert info["transport"] == "webrtc"
        assert info["codec"] == "opus"
        assert info["stats"]["frames_received"] > 0

        assert await page.evaluate("window.mediaserverDemo.sendDtmf('7*')") is True
        await until(
            lambda: [e.get("digit") for e in server_events if e["type"] == "dtmf"] == ["7", "*"], 15
        )
        await page.evaluate("window.mediaserverDemo.stop()")
        async with asyncio.timeout(15):
            await listener
        await until(lambda: runtime.webrtc.peer_count == 0 and not runtime.calls.calls(), 15)
        page_events = await page.events()
        badge = await page.evaluate("document.getElementById('state').innerText")
        finals_shown = await page.evaluate("document.querySelectorAll('#finals li').length")

    kinds = [e["type"] for e in server_events]
    assert kinds[0] == "session.created"
    assert server_events[-1]["type"] == "session.closed"
    assert server_events[-1]["reason"] == "requested"
    states = [(e["from"], e["to"]) for e in server_events if e["type"] == "session.state"]
    assert ("silence", "active") in states
    assert ("active", "silence") in states
    assert states[-1][1] == "closed"
    assert "transcript.final" in kinds
    pad_s = settings.vad.speech_pad_ms / 1000
    check_against_speech(segments(server_events)[1:4], speech, 16000, pad_s)

    # The page got the same stream over the data channel (it subscribed first, so it may have
    # more at the start: compare from the WS subscription's first non-sticky event on).
    assert page_events[0]["type"] == "session.created"
    tail = server_events[1:]
    assert page_events[-len(tail) :] == tail
    assert badge == "closed"
    assert finals_shown == [e["type"] for e in page_events].count("transcript.final") > 0
