"""CallManager / Call: the async shell around CallCore, as transports use it."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from mediaserver.audio.silero import SileroModel
from mediaserver.calls.manager import (
    Call,
    CallManager,
    CallRefused,
    Subscription,
    Transport,
    TransportInfo,
)
from mediaserver.calls.postprocess import ThreadedPostprocess
from mediaserver.calls.recognizers import RecognizerStream, SpeechRecognizer
from mediaserver.config import Settings
from mediaserver.domain.normalizer import Normalizer
from mediaserver.domain.pipeline import Postprocessor
from mediaserver.engines.base import (
    Architecture,
    Audio,
    Capabilities,
    Hypothesis,
    TranscribeOptions,
)
from mediaserver.observability import Metrics
from mediaserver.session.call_options import CallOptionsError
from tests.call_audio import PHRASES, Pcm, frames, silence, speech


@pytest.fixture(scope="module")
def silero() -> SileroModel:
    return SileroModel()


@pytest.fixture
async def manager(settings: Settings, silero: SileroModel) -> AsyncIterator[CallManager]:
    calls = CallManager(settings, Metrics(), vad_model=silero, tick_s=0.005)
    await calls.start()
    try:
        yield calls
    finally:
        await calls.stop(drain_s=5)


async def feed(call: Call, pcm: Pcm, rate: int, burst: int = 10) -> None:
    """Frames of 20 ms, faster than real time, letting the loop run between bursts."""
    for i, frame in enumerate(frames(pcm, rate)):
        call.feed(frame.tobytes(), rate)
        if i % burst == burst - 1:
            await asyncio.sleep(0.002)
    await asyncio.sleep(0.05)


def collect(sub: Subscription) -> asyncio.Task[list[dict[str, Any]]]:
    async def run() -> list[dict[str, Any]]:
        return [item async for item in sub]

    return asyncio.create_task(run())


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def test_a_call_whose_model_is_not_installed_is_refused_naming_the_pull_command(
    settings: Settings, silero: SileroModel
) -> None:
    # The server's default model counts too (AudioSocket calls cannot name another one).
    models = dataclasses.replace(settings.models, default_stt="faster-whisper-small")
    settings = dataclasses.replace(settings, models=models)
    manager = CallManager(settings, Metrics(), vad_model=silero, tick_s=0.005)
    await manager.start()
    try:
        with pytest.raises(CallRefused, match="mediaserver pull faster-whisper-small"):
            manager.create(Transport.AUDIOSOCKET, {}, TransportInfo())
        with pytest.raises(CallRefused) as refused:
            manager.create(Transport.RTP, {"model": "faster-whisper-small"}, TransportInfo())
        assert (refused.value.status, refused.value.code) == (404, "model_not_found")
        assert refused.value.param == "model"
        assert "mediaserver pull faster-whisper-small" in refused.value.message
        with pytest.raises(CallRefused, match="mediaserver pull faster-whisper-small"):
            manager.check_options({"model": "faster-whisper-small"})
        assert manager.calls() == []
        assert manager.metrics.registry.get_sample_value("mediaserver_calls_active") == 0
    finally:
        await manager.stop(drain_s=5)


@pytest.mark.needs_espeak
async def test_call_without_model_runs_vad_states_and_dtmf_without_errors(
    manager: CallManager,
) -> None:
    rate = 8000
    call = manager.create(Transport.RTP, {"model": None}, TransportInfo(codec="PCMU"))
    events = collect(call.subscribe())
    audio = np.concatenate([silence(0.5, rate), speech(PHRASES[0], rate), silence(1.0, rate)])
    await feed(call, audio, rate)
    call.dtmf("7")
    await call.close("hangup")
    got = await asyncio.wait_for(events, 5)

    assert got[0]["type"] == "session.created"
    assert got[0]["transport"] == "rtp"
    assert got[0]["model"] is None
    assert [e for e in got if e["type"] == "error"] == []
    assert kinds(got).count("vad.speech_start") == 1
    assert kinds(got).count("vad.speech_end") == 1
    assert not [e for e in got if e["type"].startswith("transcript.")]
    # Where the digit lands among the VAD's events depends on how far the per-tick-bounded
    # VAD had caught up when it was pressed; that it comes once, whole, does not.
    (digit,) = [e for e in got if e["type"] == "dtmf"]
    assert {"type": "dtmf", "call_id": call.id, "digit": "7"}.items() <= digit.items()
    assert kinds(got)[-1] == "session.closed"
    assert got[-1]["reason"] == "hangup"
    assert call.state == "closed"
    with pytest.raises(KeyError):
        manager.get(call.id)
    sample = manager.metrics.registry.get_sample_value
    assert (sample("mediaserver_vad_tick_seconds_count") or 0) > 0
    assert sample("mediaserver_calls_started_total", {"transport": "rtp"}) == 1
    assert sample("mediaserver_calls_active") == 0


async def test_slow_subscriber_loses_oldest_events_and_never_slows_the_call(
    settings: Settings, silero: SileroModel
) -> None:
    manager = CallManager(settings, Metrics(), vad_model=silero, queue_events=8)
    await manager.start()
    try:
        call = manager.create(Transport.WEBSOCKET, {}, TransportInfo())
        slow = call.subscribe()  # never read until the call is over
        fast = collect(call.subscribe())
        for i in range(60):
            call.dtmf("0123456789"[i % 10])
            if i % 5 == 0:
                await asyncio.sleep(0)  # the fast subscriber keeps up
        await asyncio.wait_for(call.close(), 5)
        everything = await asyncio.wait_for(fast, 5)
        late = [item async for item in slow]
    finally:
        await manager.stop(drain_s=5)

    assert [e["digit"] for e in everything if e["type"] == "dtmf"] == [
        "0123456789"[i % 10] for i in range(60)
    ]
    assert "session.frames_dropped" not in kinds(everything)
    assert late[0]["type"] == "session.frames_dropped"
    assert late[0]["count"] == len(everything) - 8
    assert late[1:] == everything[-8:]
    assert late[-1]["type"] == "session.closed"
    assert manager.events_dropped == late[0]["count"]


@pytest.mark.needs_espeak
async def test_a_failing_call_does_not_affect_another(manager: CallManager) -> None:
    rate = 16000
    broken = manager.create(Transport.AUDIOSOCKET, {}, TransportInfo(), call_id="broken")
    healthy = manager.create(Transport.AUDIOSOCKET, {}, TransportInfo(), call_id="healthy")
    broken_events = collect(broken.subscribe())
    healthy_events = collect(healthy.subscribe())

    def explode(now: float) -> Any:
        raise RuntimeError("a bug in one call")

    broken._core.vad_done = explode  # type: ignore[method-assign]
    voice = np.concatenate([silence(0.3, rate), speech(PHRASES[1], rate), silence(1.0, rate)])
    both = [feed(broken, voice, rate), feed(healthy, voice, rate)]
    await asyncio.gather(*both)
    await asyncio.wait_for(broken.wait_closed(), 5)
    assert [c.id for c in manager.calls()] == ["healthy"]
    assert healthy.state == "silence"
    await healthy.close()

    lost = await asyncio.wait_for(broken_events, 5)
    # It fails at its first VAD decision (the speech start).
    assert [e["code"] for e in lost if e["type"] == "error"] == ["internal_error"]
    assert lost[-1]["type"] == "session.closed"
    assert lost[-1]["reason"] == "error"
    fine = await asyncio.wait_for(healthy_events, 5)
    assert [e["code"] for e in fine if e["type"] == "error"] == []
    assert kinds(fine).count("vad.speech_start") == 1
    assert kinds(fine).count("vad.speech_end") == 1
    assert fine[-1]["reason"] == "requested"


@pytest.mark.needs_espeak
async def test_an_end_decided_on_silence_is_applied_within_the_feed(manager: CallManager) -> None:
    rate = 8000
    call = manager.create(Transport.RTP, {"vad": {"min_silence_ms": 300}}, TransportInfo())
    await feed(call, np.concatenate([silence(0.3, rate), speech(PHRASES[1], rate)]), rate)
    for _ in range(100):
        if call.state == "active":
            break
        await asyncio.sleep(0.01)
    assert call.state == "active"
    # The ticker decides at most a few chunks per call per tick: let it catch up with the
    # speech fed faster than real time above.
    for _ in range(200):
        if not call.vad_stream.pending:
            break
        await asyncio.sleep(0.01)
    # Digital silence is decided by the pre-filter as it is fed: the end of speech reaches
    # the call without the VAD ticker (which cannot run: nothing here awaits).
    for frame in frames(silence(0.6, rate), rate):
        call.feed(frame.tobytes(), rate)
    assert call.state == "silence"
    await call.close()


async def test_create_validates_options_and_refuses_when_it_must(manager: CallManager) -> None:
    info = TransportInfo()
    with pytest.raises(CallOptionsError, match="unknown option 'codec'") as exc:
        manager.create(Transport.RTP, {"codec": "PCMU"}, info)
    assert exc.value.param == "codec"
    with pytest.raises(CallOptionsError, match=r"vad\.min_silence_ms") as exc:
        manager.create(Transport.RTP, {"vad": {"min_silence_ms": -1}}, info)
    assert exc.value.param == "vad.min_silence_ms"
    assert manager.calls() == []

    call = manager.create(Transport.RTP, {"language": "pt-BR"}, info, call_id="one")
    assert call.options.language == "pt"
    with pytest.raises(CallRefused) as refused:
        manager.create(Transport.RTP, {}, info, call_id="one")
    assert refused.value.status == 409
    with pytest.raises(ValueError, match="call_id must be"):
        manager.create(Transport.AUDIOSOCKET, {}, info, call_id="a/b")
    manager.draining = True
    with pytest.raises(CallRefused) as refused:
        manager.create(Transport.RTP, {}, info)
    assert (refused.value.status, refused.value.code) == (503, "draining")
    assert [c.id for c in manager.calls()] == ["one"]


async def test_info_merges_transport_stats_and_on_close_runs_once(manager: CallManager) -> None:
    closed: list[str] = []

    def stats() -> dict[str, int | float]:
        return {"packets_received": 12, "jitter_ms": 3}

    info = TransportInfo(codec="PCMA", remote="127.0.0.1:4000", stats=stats)
    call = manager.create(Transport.RTP, {}, info, on_close=lambda: closed.append("x"))
    call.feed(silence(0.2, 8000).tobytes(), 8000)
    await asyncio.sleep(0.05)
    brief = call.info()
    assert brief == {
        "id": call.id,
        "transport": "rtp",
        "state": "silence",
        "events_url": f"/v1/calls/{call.id}/events",
    }
    detail = call.info(detail=True)
    assert detail["codec"] == "PCMA"
    assert detail["remote"] == "127.0.0.1:4000"
    assert detail["stats"]["packets_received"] == 12
    assert detail["stats"]["packets_lost"] == 0
    assert detail["stats"]["concealed_ms"] == 0
    assert detail["stats"]["jitter_ms"] == 3
    assert detail["stats"]["frames_received"] == 1
    with pytest.raises(ValueError, match="even number of bytes"):
        call.feed(b"\x00", 8000)
    with pytest.raises(ValueError, match="sample_rate"):
        call.feed(b"\x00\x00", 0)
    await call.close()
    await call.close()
    assert closed == ["x"]
    call.feed(silence(0.02, 8000).tobytes(), 8000)  # after close: ignored, no error
    late = [item async for item in call.subscribe()]
    # A late subscriber still learns how the call started (and ended).
    assert kinds(late) == ["session.created", "session.closed"]


async def test_timers_fire_on_the_loop(manager: CallManager) -> None:
    call = manager.create(Transport.WEBRTC, {"timeouts": {"init_s": 0.05}}, TransportInfo())
    await asyncio.wait_for(call.wait_closed(), 2)
    assert call.state == "closed"


async def test_muted_call_discards_input_but_keeps_the_timeline(manager: CallManager) -> None:
    call = manager.create(Transport.WEBSOCKET, {}, TransportInfo())
    sub = call.subscribe()
    call.muted = True
    loud = (np.sin(np.arange(16000) * 2 * np.pi * 300 / 16000) * 20000).astype(np.int16)
    for frame in np.split(loud, 50):  # 1 s of a loud tone, 20 ms frames
        call.feed(frame.tobytes(), 16000)
    assert call.info(detail=True)["stats"]["frames_muted"] == 50
    call.muted = False
    call.feed(silence(0.1, 16000).tobytes(), 16000)
    await call.close()
    events = [e async for e in sub]
    assert not [e for e in events if e["type"].startswith("vad.")]  # nothing reached the VAD
    closed = events[-1]
    assert closed["type"] == "session.closed"
    assert closed["audio_ms"] >= 1000  # the muted second is still on the call's timeline


async def test_a_call_speaking_keeps_a_silent_caller_out_of_hold(manager: CallManager) -> None:
    call = manager.create(Transport.WEBSOCKET, {"timeouts": {"silence_s": 0.1}}, TransportInfo())
    sub = call.subscribe()
    call.feed(silence(0.1, 16000).tobytes(), 16000)  # the front end hands over 32 ms chunks
    assert call.state == "silence"
    call.muted = True  # the Speaker mutes the call for as long as it speaks
    await asyncio.sleep(0.4)  # four silence timeouts, the caller listening
    assert call.state == "silence"
    call.muted = False  # silence from now on: HOLD 0.1 s later
    for _ in range(100):
        if call.state == "hold":
            break
        await asyncio.sleep(0.02)
    assert call.state == "hold"
    await call.close()
    holds = [e for e in [e async for e in sub] if e["type"] == "session.hold"]
    assert len(holds) == 1


SPOKEN = "meu cpf é um dois três quatro cinco seis sete oito nove zero nove"


class ScriptedRecognizer:
    """Says a fixed utterance, word by word: scripts what the engine hears, nothing else."""

    name = "scripted"
    architecture = Architecture.CTC
    capabilities = Capabilities(native_partials=True)
    WORDS = SPOKEN.split()

    async def open_stream(self, options: TranscribeOptions) -> RecognizerStream:
        return ScriptedStream()


class ScriptedStream:
    def __init__(self) -> None:
        self.heard = 0

    async def accept(self, audio: Audio) -> Hypothesis:
        assert len(audio) >= 1600  # >= 100 ms per chunk, never 20 ms frames
        self.heard += 1
        return Hypothesis(" ".join(ScriptedRecognizer.WORDS[: self.heard]))

    async def finish(self, audio: Audio | None = None) -> Hypothesis:
        if audio is not None:
            self.heard += 1
        return Hypothesis(SPOKEN, is_final=True)

    async def aclose(self) -> None:
        return None


class Scripted:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def get(self, model: str) -> SpeechRecognizer:
        self.asked.append(model)
        return ScriptedRecognizer()

    def require(self, model: str) -> None:
        return None  # every model is "installed"

    async def aclose(self) -> None:
        return None


@pytest.mark.needs_espeak
async def test_partials_then_a_post_processed_final(
    settings: Settings, silero: SileroModel
) -> None:
    engines = Scripted()
    post = ThreadedPostprocess(lambda: Postprocessor(Normalizer(None, use_nemo=False)))
    manager = CallManager(settings, Metrics(), engines, post, vad_model=silero)
    await manager.start()
    try:
        rate = 16000
        call = manager.create(Transport.WEBRTC, {"model": "any", "redact": True}, TransportInfo())
        events = collect(call.subscribe())
        audio = np.concatenate([silence(0.3, rate), speech(PHRASES[0], rate), silence(1.0, rate)])
        await feed(call, audio, rate)
        await call.close()
        got = await asyncio.wait_for(events, 5)
    finally:
        await manager.stop(drain_s=5)
    assert engines.asked == ["any"]
    transcripts = [e for e in got if e["type"].startswith("transcript.")]
    partials, final = transcripts[:-1], transcripts[-1]
    assert partials
    assert all(p["type"] == "transcript.partial" and p["segment_id"] == 1 for p in partials)
    texts = [p["text"] for p in partials]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))
    assert final["type"] == "transcript.final"
    assert final["segment_id"] == 1
    assert final["raw_text"] == SPOKEN
    assert final["text"] == "meu CPF é ***.***.***-09"
    assert [e["type"] for e in final["entities"]] == ["cpf"]
    start = next(e for e in got if e["type"] == "vad.speech_start")
    assert final["start_ms"] == start["audio_ms"]
    assert kinds(got).index("vad.speech_end") < kinds(got).index("transcript.final")


async def test_transports_emit_their_own_events_in_order(manager: CallManager) -> None:
    call = manager.create(Transport.WEBSOCKET, {}, TransportInfo())
    sub = call.subscribe()
    call.emit("session.rate_limit", factor=1.5)
    call.dtmf("1")
    call.emit("tts.speaking_start", audio_ms=0)
    for forged in ("session.closed", "vad.speech_start", "transcript.final", "dtmf"):
        with pytest.raises(ValueError, match="event of the call core"):
            call.emit(forged)
    await call.close()
    got = [e async for e in sub]
    assert [e["type"] for e in got if e["type"] not in ("error", "session.state")] == [
        "session.created",
        "session.rate_limit",
        "dtmf",
        "tts.speaking_start",
        "session.closed",
    ]
    assert got[1] == {"type": "session.rate_limit", "call_id": call.id, "factor": 1.5}


async def test_a_transcriber_bug_closes_only_its_call(manager: CallManager) -> None:
    call = manager.create(Transport.RTP, {}, TransportInfo())
    other = manager.create(Transport.RTP, {}, TransportInfo())
    sub = call.subscribe()

    def broken(command: object) -> None:
        raise RuntimeError("bug")

    await asyncio.sleep(0.01)  # the transcriber has resolved its (absent) model
    call._transcriber._next = broken  # type: ignore[assignment,method-assign]
    call._transcriber.submit(None)  # type: ignore[arg-type]
    await asyncio.wait_for(call.wait_closed(), 2)
    got = [e async for e in sub]
    assert [e["code"] for e in got if e["type"] == "error"] == ["internal_error"]
    assert got[-1]["reason"] == "error"
    assert other.state == "init"
    assert manager.calls() == [other]
