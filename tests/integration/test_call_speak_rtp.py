"""TTS into an RTP call, heard by a real RTP peer on loopback: whole, paced, gapless; the call's
ears muted meanwhile; cancel within 40 ms; barge-in. Real sockets, real Silero VAD, a scripted
synthesizer (known duration)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.manager import Call
from mediaserver.config import Settings
from tests.call_audio import PHRASES, silence, speech
from tests.integration.speak_support import FRAME, RATE, collect, rig, wait_for
from tests.unit.calls.speaker_fakes import ToneSynthesizer, until

pytestmark = pytest.mark.timeout(90)


async def latched(call: Call) -> None:
    async with asyncio.timeout(5):
        while True:
            try:
                call.speaker.sink()
                return
            except NoAudioPath:
                await asyncio.sleep(0.01)


async def test_peer_hears_the_whole_utterance_paced_without_gaps(
    settings: Settings, tmp_path: Path
) -> None:
    async with rig(settings, tmp_path) as r:
        r.manager.synthesizer = ToneSynthesizer(seconds=1.0, rate=22050, chunks=4, delay_s=0.05)
        call, port = await r.call()
        events: list[dict[str, Any]] = []
        watcher = asyncio.create_task(collect(call, events))
        sender = asyncio.create_task(r.peer.stream(silence(3.0, RATE), port))
        with pytest.raises(NoAudioPath):  # nothing latched yet: nowhere to play
            call.speaker.speak("cedo demais")
        await latched(call)
        queued = call.speaker.speak("Olá, tudo bem?")
        assert queued.queued == 1
        await wait_for(events, "tts.speaking_end")
        sender.cancel()

        packets = [r.packet for r in r.peer.received]
        arrivals = np.array([r.at for r in r.peer.received])
        # 1 s of audio: 50 packets of 20 ms (the resampler may round by a packet).
        assert abs(len(packets) * FRAME - RATE) <= FRAME
        assert packets[0].marker
        assert not any(p.marker for p in packets[1:])
        assert {p.payload_type for p in packets} == {0}
        seqs = [p.sequence_number for p in packets]
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
        stamps = [p.timestamp for p in packets]
        assert all((b - a) & 0xFFFFFFFF == FRAME for a, b in itertools.pairwise(stamps))
        # No gaps: every packet but the padded last one carries the tone.
        pcm = r.peer.audio().astype(np.float64)
        rms = np.sqrt(np.mean(pcm[: (len(packets) - 1) * FRAME].reshape(-1, FRAME) ** 2, axis=1))
        assert rms.min() > 3000
        # Paced on the 20 ms grid, not sent as a burst.
        deviation = np.abs(arrivals - arrivals[0] - 0.02 * np.arange(len(arrivals)))
        assert arrivals[-1] - arrivals[0] >= 0.02 * (len(arrivals) - 1) - 0.005
        assert deviation.max() < 0.03
        [start] = [e for e in events if e["type"] == "tts.speaking_start"]
        [end] = [e for e in events if e["type"] == "tts.speaking_end"]
        assert start["utterance_id"] == end["utterance_id"] == queued.id
        assert end["cancelled"] is False
        assert not call.muted
        await call.close()
        watcher.cancel()


async def test_mute_on_speak_no_vad_while_speaking_vad_again_after(
    settings: Settings, tmp_path: Path
) -> None:
    voice = speech(PHRASES[0], RATE)
    async with rig(settings, tmp_path) as r:
        r.manager.synthesizer = ToneSynthesizer(seconds=20.0, rate=16000, chunks=20)
        call, port = await r.call()
        events: list[dict[str, Any]] = []
        watcher = asyncio.create_task(collect(call, events))
        seq = await r.peer.stream(silence(0.3, RATE), port)
        await latched(call)
        call.speaker.speak("Aguarde um momento.")
        await wait_for(events, "tts.speaking_start")
        assert call.muted
        seq = await r.peer.stream(np.concatenate([voice, silence(1.0, RATE)]), port, seq)
        assert not any(e["type"].startswith("vad.") for e in events)
        muted = call.info(detail=True)["stats"]["frames_muted"]
        assert muted >= len(voice) // FRAME  # every frame of the speech was discarded
        assert r.metrics.stt_muted_frames._value.get() >= muted
        assert call.speaker.cancel() == 1
        await wait_for(events, "tts.speaking_end")
        assert not call.muted
        await r.peer.stream(np.concatenate([voice, silence(1.5, RATE)]), port, seq)
        await wait_for(events, "vad.speech_end", within_s=5)
        assert [e["type"] for e in events if e["type"].startswith(("vad.", "tts."))] == [
            "tts.speaking_start",
            "tts.speaking_end",
            "vad.speech_start",
            "vad.speech_end",
        ]
        await call.close()
        watcher.cancel()


async def test_cancel_stops_the_stream_within_40ms(settings: Settings, tmp_path: Path) -> None:
    async with rig(settings, tmp_path) as r:
        r.manager.synthesizer = ToneSynthesizer(seconds=5.0, rate=24000)
        call, port = await r.call()
        events: list[dict[str, Any]] = []
        watcher = asyncio.create_task(collect(call, events))
        sender = asyncio.create_task(r.peer.stream(silence(5.0, RATE), port))
        await latched(call)
        call.speaker.speak("Uma frase longa.")
        call.speaker.speak("E outra na fila.")
        await until(lambda: len(r.peer.received) >= 10, 5)
        cancelled_at = asyncio.get_running_loop().time()
        assert call.speaker.cancel() == 2
        await wait_for(events, "tts.speaking_end")
        await asyncio.sleep(0.3)
        sender.cancel()
        assert max(x.at for x in r.peer.received) <= cancelled_at + 0.04
        ends = [e for e in events if e["type"] == "tts.speaking_end"]
        assert [(e["cancelled"], e["reason"]) for e in ends] == [(True, "requested")]
        assert sum(e["type"] == "tts.speaking_start" for e in events) == 1  # queue cleared
        assert not call.muted
        await call.close()
        watcher.cancel()


async def test_barge_in_cancels_the_playback_and_resumes_listening(
    settings: Settings, tmp_path: Path
) -> None:
    voice = speech(PHRASES[1], RATE)
    async with rig(settings, tmp_path) as r:
        r.manager.synthesizer = ToneSynthesizer(seconds=20.0, rate=16000, chunks=20)
        call, port = await r.call(barge_in=True, barge_in_min_ms=300)
        events: list[dict[str, Any]] = []
        watcher = asyncio.create_task(collect(call, events))
        seq = await r.peer.stream(silence(0.5, RATE), port)
        await latched(call)
        call.speaker.speak("Posso ajudar em mais alguma coisa?")
        await wait_for(events, "tts.speaking_start")
        loop = asyncio.get_running_loop()
        began = loop.time()
        talker = asyncio.create_task(
            r.peer.stream(np.concatenate([voice, voice, silence(1.5, RATE)]), port, seq)
        )
        await wait_for(events, "tts.speaking_end", within_s=10)
        assert loop.time() - began < 2.0  # long before the 20 s utterance would end
        [end] = [e for e in events if e["type"] == "tts.speaking_end"]
        assert (end["cancelled"], end["reason"]) == (True, "barge_in")
        assert not any(e["type"].startswith("vad.") for e in events)  # STT saw nothing muted
        assert not call.muted
        await wait_for(events, "vad.speech_start", within_s=10)  # listening again
        talker.cancel()
        await call.close()
        watcher.cancel()
