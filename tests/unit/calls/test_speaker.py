"""The Speaker: queue order, events, mute in every exit path, cancel, synthesis errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.speaker import Speaker, SpeakError
from mediaserver.transports.pacing import FramePacer
from tests.unit.calls.speaker_fakes import ToneSynthesizer, until

RATE = 8000
FRAME_BYTES = RATE // 50 * 2


class RecordingCall:
    def __init__(self) -> None:
        self.id = "call-1"
        self.muted = False
        self.events: list[dict[str, Any]] = []
        self.ended = asyncio.Event()

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append({"type": kind, "muted": self.muted, **fields})
        if kind == "tts.speaking_end":
            self.ended.set()

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def wait_ends(self, count: int) -> None:
        async with asyncio.timeout(10):
            while self.types().count("tts.speaking_end") < count:
                self.ended.clear()
                await self.ended.wait()


class Wire:
    """The sink's far side: every frame with its send time."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []

    def send(self, frame: bytes) -> None:
        self.frames.append((asyncio.get_running_loop().time(), frame))


def make(synth: ToneSynthesizer) -> tuple[Speaker, RecordingCall, Wire]:
    call, wire = RecordingCall(), Wire()
    speaker = Speaker(call, synth, lambda: FramePacer(RATE, wire.send))
    return speaker, call, wire


async def test_utterances_play_in_order_muted_and_whole() -> None:
    speaker, call, wire = make(ToneSynthesizer(seconds=0.1))
    first = speaker.speak("um")
    second = speaker.speak("dois")
    assert (first.queued, second.queued) == (1, 2)
    assert first.id != second.id
    await call.wait_ends(2)
    assert call.types() == ["tts.speaking_start", "tts.speaking_end"] * 2
    starts = [e for e in call.events if e["type"] == "tts.speaking_start"]
    assert [e["utterance_id"] for e in starts] == [first.id, second.id]
    assert all(e["muted"] for e in starts)  # muted before the first frame leaves
    assert [e["cancelled"] for e in call.events if e["type"] == "tts.speaking_end"] == [False] * 2
    assert not call.muted
    # 0.1 s at 8 kHz is 5 frames per utterance, the last frame of each padded.
    assert len(wire.frames) == 10
    assert all(len(frame) == FRAME_BYTES for _, frame in wire.frames)
    assert speaker.spoken == 2


async def test_cancel_stops_within_a_frame_and_clears_the_queue() -> None:
    speaker, call, wire = make(ToneSynthesizer(seconds=2.0))
    speaker.speak("longo")
    speaker.speak("depois")
    speaker.speak("mais")
    await until(lambda: len(wire.frames) >= 5, 5)
    loop = asyncio.get_running_loop()
    cancelled_at = loop.time()
    assert speaker.cancel() == 3
    sent = len(wire.frames)
    await call.wait_ends(1)
    await asyncio.sleep(0.1)
    assert len(wire.frames) == sent  # nothing left after the cancel
    assert all(t <= cancelled_at + 0.04 for t, _ in wire.frames)
    end = call.events[-1]
    assert end == {
        "type": "tts.speaking_end",
        "muted": False,
        "utterance_id": end["utterance_id"],
        "cancelled": True,
        "reason": "requested",
    }
    assert call.types().count("tts.speaking_start") == 1
    assert not call.muted
    assert speaker.cancel() == 0


async def test_synthesis_error_is_an_error_event_and_unmutes() -> None:
    synth = ToneSynthesizer(seconds=0.3, fail_after=1)
    speaker, call, _ = make(synth)
    speaker.speak("falha")
    await call.wait_ends(1)
    assert call.types() == ["tts.speaking_start", "error", "tts.speaking_end"]
    error = call.events[1]
    assert (error["code"], error["recoverable"]) == ("tts_failed", True)
    assert call.events[2]["cancelled"] is False
    assert not call.muted
    # The next utterance still plays.
    synth.fail_after = None
    speaker.speak("de novo")
    await call.wait_ends(2)
    assert call.types()[-2:] == ["tts.speaking_start", "tts.speaking_end"]
    assert not call.muted


async def test_close_unmutes_and_stops() -> None:
    speaker, call, wire = make(ToneSynthesizer(seconds=2.0))
    speaker.speak("longo")
    await until(lambda: call.muted, 5)
    await speaker.aclose()
    assert not call.muted
    sent = len(wire.frames)
    await asyncio.sleep(0.1)
    assert len(wire.frames) == sent
    with pytest.raises(NoAudioPath):
        speaker.speak("depois de fechar")


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("", {}, "text is empty"),
        ("   ", {}, "text is empty"),
        ("x" * 5000, {}, "longer than 4096"),
        ("ok", {"speed": 3.0}, "speed must be between"),
        ("ok", {"voice": "v" * 65}, "voice must be"),
    ],
)
async def test_bad_requests_change_nothing(text: str, kwargs: Any, message: str) -> None:
    speaker, call, _ = make(ToneSynthesizer())
    with pytest.raises(SpeakError, match=message):
        speaker.speak(text, **kwargs)
    assert speaker.queued == 0
    assert call.events == []


async def test_no_audio_path_is_refused_at_once() -> None:
    call = RecordingCall()

    def nowhere() -> FramePacer:
        raise NoAudioPath("not latched")

    speaker = Speaker(call, ToneSynthesizer(), nowhere)
    with pytest.raises(NoAudioPath):
        speaker.speak("olá")
    assert speaker.queued == 0


async def test_on_mute_follows_the_playback() -> None:
    call, wire = RecordingCall(), Wire()
    seen: list[bool] = []
    sink = lambda: FramePacer(RATE, wire.send)  # noqa: E731
    speaker = Speaker(call, ToneSynthesizer(seconds=0.06), sink, on_mute=seen.append)
    speaker.speak("um")
    await call.wait_ends(1)
    assert seen == [True, False]


async def test_cancel_before_the_first_word_emits_nothing() -> None:
    speaker, call, wire = make(ToneSynthesizer(seconds=0.2))
    speaker.speak("um")
    assert speaker.cancel() == 1
    await asyncio.sleep(0.05)
    assert (call.events, wire.frames, call.muted) == ([], [], False)
    speaker.speak("dois")  # the speaker goes on
    await call.wait_ends(1)
    assert call.types() == ["tts.speaking_start", "tts.speaking_end"]


async def test_a_request_refused_by_the_engine_is_an_error_alone() -> None:
    synth = ToneSynthesizer(fail_after=0)
    speaker, call, wire = make(synth)
    speaker.speak("voz errada")
    await asyncio.sleep(0.05)
    assert call.types() == ["error"]
    assert (wire.frames, call.muted, speaker.queued) == ([], False, 0)
