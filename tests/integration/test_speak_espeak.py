"""The in-call Speaker on the real espeak-ng engine in a worker process, through the supervisor."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediaserver.calls.speaker import Speaker, SupervisorSynthesizer
from mediaserver.engines.supervision.spec import SupervisorOptions, WorkerSpec
from mediaserver.engines.supervision.supervisor import Supervisor
from mediaserver.transports.pacing import FramePacer

pytestmark = [
    pytest.mark.needs_espeak,
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]


class Call:
    id = "call-espeak"
    muted = False

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append({"type": kind, **fields})


async def test_espeak_speech_reaches_the_sink_at_8khz(tmp_path: Path) -> None:
    spec = WorkerSpec(model="espeak-ng", engine="espeak-ng", model_dir=tmp_path, kind="tts")
    async with Supervisor(lambda name: spec, SupervisorOptions(auto_unload_s=0)) as sup:
        frames: list[bytes] = []
        call = Call()
        synth = SupervisorSynthesizer(sup, "espeak-ng", "pt-br")
        speaker = Speaker(call, synth, lambda: FramePacer(8000, frames.append))
        speaker.speak("Seu saldo é de R$ 10,50.")
        async with asyncio.timeout(30):
            while not any(e["type"] == "tts.speaking_end" for e in call.events):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        # What the engine says for the same normalized text, resampled: the call got all of it.
        direct = [
            c
            async for c in sup.synthesize(
                "espeak-ng", "Seu saldo é de dez reais e cinquenta centavos.", "pt-br"
            )
        ]
    assert [e["type"] for e in call.events] == ["tts.speaking_start", "tts.speaking_end"]
    pcm = np.frombuffer(b"".join(frames), "<i2")
    seconds = len(pcm) / 8000
    rate = direct[0][1]
    expected = sum(len(c) // 2 for c, _ in direct) / rate
    assert abs(seconds - expected) < 0.25
    assert np.abs(pcm).max() > 1000
    assert {len(f) for f in frames} == {320}
    assert not call.muted
