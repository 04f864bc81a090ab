"""The demo page in headless Chromium, speaking espeak-ng pt-BR into a server whose call
manager records what it is fed: the browser's media path, data channel and DTMF, end to end."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import pytest

from mediaserver.app import create_app
from mediaserver.config import load_settings
from tests.e2e.webrtc_chromium import (
    ESPEAK,
    Chromium,
    have_chromium,
    serve,
    speech_wav,
    voiced_runs,
)
from tests.fake_calls import FakeCallManager
from tests.unit.transports.webrtc_client import until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.needs_espeak,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not have_chromium() or ESPEAK is None, reason="needs chromium + espeak-ng"),
]

PHRASES = ["Bom dia, quero ver o saldo.", "O número do meu cartão termina em quatro dois."]
# A 20 ms frame either side, plus Opus and the browser's capture smoothing edges.
TOLERANCE_S = 0.08


async def shown(page: Chromium) -> list[str]:
    """State badge, partial line and finals list as the page shows them."""
    text = await page.evaluate(
        "JSON.stringify(['state', 'partial', 'finals']"
        ".map((id) => document.getElementById(id).innerText))"
    )
    value: list[str] = json.loads(text)
    return value


@pytest.mark.parametrize(("codec", "rate", "key"), [("opus", 48000, "k-1"), ("PCMU", 8000, None)])
async def test_demo_page_call(tmp_path: Path, codec: str, rate: int, key: str | None) -> None:
    environ = {"MEDIASERVER_MODELS_DIR": str(tmp_path / "models")}
    environ["MEDIASERVER_AUDIOSOCKET__ENABLED"] = "false"  # no fixed port 9092 in tests
    # No NeMo grammar build (seconds of CPU) competing with the browser's audio capture.
    environ["MEDIASERVER_POSTPROCESS__NEMO"] = "false"
    if key is not None:  # the page sends the key from its URL fragment
        environ["MEDIASERVER_API_KEYS"] = key
    settings = load_settings(environ=environ)
    speech = speech_wav(tmp_path / "mic.wav", PHRASES, gap_s=1.5)
    sent_runs = speech.runs(rate)
    assert len(sent_runs) == len(PHRASES)
    app = create_app(settings)
    manager = FakeCallManager()
    app.state.runtime.calls = manager
    async with (
        serve(app) as base,
        Chromium.open(
            f"{base}/?autostart=1&language=pt&codec={codec}" + (f"#key={key}" if key else ""),
            speech.path,
            tmp_path / "p",
        ) as page,
    ):
        await until(lambda: bool(manager.created), 30)
        call = manager.created[0]
        assert call.options == {"language": "pt"}
        assert call.transport_info.codec == codec

        # Events reach the page over the data channel and drive what it shows.
        call.emit({"type": "session.state", "from": "init", "to": "active"})
        call.emit({"type": "transcript.partial", "text": "bom di"})
        call.emit({"type": "transcript.final", "text": "Bom dia."})
        call.emit({"type": "transcript.partial", "text": "quero"})
        expected = ["active", "quero", "Bom dia."]
        async with asyncio.timeout(15):
            while await shown(page) != expected:  # noqa: ASYNC110
                await asyncio.sleep(0.1)

        # The microphone: one and a half loops of the file, speech where it was sent.
        loop_bytes = int(speech.duration_s * rate) * 2
        await until(lambda: len(call.pcm(rate)) >= loop_bytes * 3 // 2 + rate, 60)
        assert {r for _, r in call.fed} == {rate}
        received = voiced_runs(call.pcm(rate), rate)[1:-1]  # the edges may be cut short
        sent = [end - start for start, end in sent_runs]
        assert len(received) >= 2
        for start, end in received:
            assert min(abs((end - start) - d) for d in sent) < TOLERANCE_S, (received, sent)
        period_gaps = [b[0] - a[0] for a, b in itertools.pairwise(received)]
        sent_gaps = [sent_runs[1][0] - sent_runs[0][0]]
        sent_gaps.append(speech.duration_s - sent_gaps[0])
        for gap in period_gaps:
            assert min(abs(gap - g) for g in sent_gaps) < TOLERANCE_S, (period_gaps, sent_gaps)

        # RFC 4733 from the browser's DTMF sender becomes digits on the call.
        assert await page.evaluate("window.mediaserverDemo.sendDtmf('15#')") is True
        await until(lambda: call.digits == ["1", "5", "#"], 15)

        # Stop: `session.close` on the channel, `session.closed` back, everything torn down.
        await page.evaluate("window.mediaserverDemo.stop()")
        assert call.close_reasons[0] == "requested"
        events = await page.events()
        assert [e["type"] for e in events][:5] == [
            "session.created",
            "session.state",
            "transcript.partial",
            "transcript.final",
            "transcript.partial",
        ]
        assert [e["digit"] for e in events if e["type"] == "dtmf"] == ["1", "5", "#"]
        assert events[-1]["type"] == "session.closed"
        await until(lambda: app.state.runtime.webrtc.peer_count == 0, 10)
        status = json.loads(await page.evaluate("JSON.stringify(window.mediaserverDemo.status)"))
        assert status["connection"] == "closed"
        assert status["error"] is None
