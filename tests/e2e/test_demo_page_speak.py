"""The demo page makes the call speak: headless Chromium types into the page's text box and
clicks Speak (then Cancel); the real server synthesizes with the builtin espeak-ng through the
speech service and its worker, and plays it on the answer's audio track.

Checked from both ends: the server's own event stream (WS /v1/calls/{id}/events) has
`tts.speaking_start` then `tts.speaking_end`, and the browser's receiver statistics show the
speech arrived, as long as the server's synthesis of the same text, with hardly a packet lost.
The server sends digital silence around its speech, so where the speech is in what the browser
played comes from its audio energy, sampled in the page along the received audio's own time
(`totalSamplesDuration`), not the wall clock of a busy machine.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from mediaserver.app import create_app
from mediaserver.config import Settings
from tests.e2e.test_webrtc_chromium import events_of
from tests.e2e.webrtc_chromium import ESPEAK, Chromium, have_chromium, serve, voiced_runs
from tests.unit.transports.webrtc_client import until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.needs_espeak,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not have_chromium() or ESPEAK is None, reason="needs chromium + espeak-ng"),
]

SENTENCE = "Olá! Seu saldo disponível é de cento e vinte e três reais. Posso ajudar em algo mais?"
LONG = " ".join(
    f"Esta é a frase número {n} de uma mensagem longa, que o cliente vai interromper."
    for n in range(1, 16)
)
# The browser's energy is sampled every ~100 ms of received audio (a window touching speech
# counts whole, at a lower floor than `voiced_runs`), and its jitter buffer may stretch the
# audio on a busy machine: what it heard may be a little shorter, or rather longer.
HEARD_MORE_S = (-0.3, 1.0)
# Mean power (audioLevel², full scale = 1) above which a stretch of received audio is speech:
# -50 dBFS, far above the digital silence the server sends, far below espeak's speech.
VOICED_POWER = 1e-5
CANCEL_WITHIN_S = 5.0  # generous: a busy 2-core machine; the server stops within one frame

# In the page: sample the inbound audio's (duration, energy) counters every 100 ms.
RECORD = """
(() => {
  const pc = window.mediaserverDemo.peer();
  window.speakTest = { samples: [], last: null };
  window.speakTest.timer = setInterval(async () => {
    for (const r of (await pc.getStats()).values()) {
      if (r.type === "inbound-rtp" && r.kind === "audio") {
        window.speakTest.samples.push([r.totalSamplesDuration || 0, r.totalAudioEnergy || 0]);
        window.speakTest.last = r;
      }
    }
  }, 100);
  return true;
})()
"""
INBOUND = """
(async () => {
  const pc = window.mediaserverDemo.peer();
  if (!pc) return null;
  for (const r of (await pc.getStats()).values()) {
    if (r.type === "inbound-rtp" && r.kind === "audio") return JSON.stringify(r);
  }
  return null;
})()
"""


def type_and_click(text: str, button: str) -> str:
    return (
        f"(() => {{ document.getElementById('speak-text').value = {json.dumps(text)};"
        f" document.getElementById({json.dumps(button)}).click(); return true; }})()"
    )


def silent_wav(path: Path, seconds: float = 2.0, rate: int = 48000) -> Path:
    """The browser's microphone: digital silence (nothing for the call's VAD to hear)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(int(seconds * rate), dtype="<i2").tobytes())
    return path


def voiced_span(samples: list[list[float]]) -> tuple[float, float]:
    """(first, last) received-audio time of the stretches whose mean power is speech."""
    voiced = []
    for (t0, e0), (t1, e1) in itertools.pairwise(samples):
        if t1 > t0 and (e1 - e0) / (t1 - t0) > VOICED_POWER:
            voiced.append((t0, t1))
    assert voiced, samples
    return voiced[0][0], voiced[-1][1]


async def server_speech_span(http: httpx.AsyncClient, text: str) -> float:
    """How long the server's own synthesis of `text` speaks (first to last voiced 20 ms)."""
    reply = await http.post("/v1/audio/speech", json={"input": text, "response_format": "pcm"})
    assert reply.status_code == 200, reply.text
    runs = voiced_runs(reply.content, int(reply.headers["X-Sample-Rate"]))
    return runs[-1][1] - runs[0][0]


async def packets_received(page: Chromium) -> int:
    stats = await page.evaluate(INBOUND)
    return 0 if stats is None else int(json.loads(stats).get("packetsReceived", 0))


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


async def test_the_demo_page_makes_the_call_speak_and_cancel(
    settings: Settings, tmp_path: Path
) -> None:
    app = create_app(settings)
    runtime = app.state.runtime
    loop = asyncio.get_running_loop()
    async with (
        serve(app) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as http,
        Chromium.open(
            base + "/?autostart=1", silent_wav(tmp_path / "mic.wav"), tmp_path / "p"
        ) as page,
    ):
        await until(lambda: bool(runtime.calls.calls()), 30)
        (call,) = runtime.calls.calls()
        server_events: list[dict[str, Any]] = []
        ws_url = base.replace("http", "ws", 1) + call.events_url
        listener = asyncio.create_task(events_of(ws_url, server_events))
        # The Speak button is enabled once the answer is in; the server's silence flows.
        async with asyncio.timeout(30):
            while not await page.evaluate(  # noqa: ASYNC110
                "!document.getElementById('speak').disabled"
            ):
                await asyncio.sleep(0.1)
        await until(lambda: bool(of_type(server_events, "session.created")), 15)
        async with asyncio.timeout(30):
            while await packets_received(page) < 10:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        assert await page.evaluate(RECORD) is True

        # Speak: typed into the text box, sent on the data channel by the page's own button.
        assert await page.evaluate(type_and_click(SENTENCE, "speak")) is True
        await until(lambda: bool(of_type(server_events, "tts.speaking_end")), 90)
        await asyncio.sleep(1.5)  # the last frames are still being played out
        recorded = json.loads(
            await page.evaluate(
                "clearInterval(window.speakTest.timer);"
                " JSON.stringify([window.speakTest.samples, window.speakTest.last])"
            )
        )
        assert await page.evaluate("document.getElementById('speak-text').value") == ""

        # Cancel: a long text, stopped by the page's Cancel button once it is being heard.
        assert await page.evaluate(type_and_click(LONG, "speak")) is True
        await until(lambda: len(of_type(server_events, "tts.speaking_start")) == 2, 90)
        await asyncio.sleep(1.0)
        assert await page.evaluate("document.getElementById('speaking').hidden") is False
        clicked = loop.time()
        assert await page.evaluate(type_and_click("", "speak-cancel")) is True
        await until(lambda: len(of_type(server_events, "tts.speaking_end")) == 2, 30)
        cancel_s = loop.time() - clicked
        long_span = await server_speech_span(http, LONG)
        sentence_span = await server_speech_span(http, SENTENCE)

        await page.evaluate("window.mediaserverDemo.stop()")
        async with asyncio.timeout(15):
            await listener

    starts = of_type(server_events, "tts.speaking_start")
    ends = of_type(server_events, "tts.speaking_end")
    kinds = [e["type"] for e in server_events]
    assert kinds.index("tts.speaking_start") < kinds.index("tts.speaking_end")
    assert [e["utterance_id"] for e in starts] == [e["utterance_id"] for e in ends]
    assert ends[0]["cancelled"] is False
    assert ends[1]["cancelled"] is True
    assert ends[1]["reason"] == "requested"
    # No STT model is installed: the call says so (no transcripts) and speaks all the same.
    assert {e["code"] for e in of_type(server_events, "error")} <= {"model_not_found"}
    assert server_events[-1]["type"] == "session.closed"
    assert server_events[-1]["reason"] == "requested"
    assert cancel_s < CANCEL_WITHIN_S
    assert long_span > 4 * CANCEL_WITHIN_S  # so the cancel, not the text's end, stopped it

    samples, inbound = recorded
    first, last = voiced_span(samples)
    heard = last - first
    print(f"heard {heard:.2f} s, synthesized {sentence_span:.2f} s, cancel {cancel_s:.2f} s")
    keys = ("packetsReceived", "packetsLost", "concealedSamples", "totalSamplesReceived")
    print("inbound", {k: inbound.get(k) for k in keys})
    low, high = HEARD_MORE_S
    assert sentence_span + low < heard < sentence_span + high, (heard, sentence_span)
    assert inbound["packetsReceived"] > heard / 0.02  # speech and the silence around it
    assert inbound["packetsLost"] <= max(2, inbound["packetsReceived"] // 100)
    assert inbound["bytesReceived"] > 0
    assert inbound.get("concealedSamples", 0) <= inbound["totalSamplesReceived"] // 10
