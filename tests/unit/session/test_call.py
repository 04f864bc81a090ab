"""CallCore: preprocess -> ring buffer + VAD -> session -> contract events and engine commands."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from mediaserver.audio.silero import SileroModel
from mediaserver.audio.vad import VadBatcher
from mediaserver.config import Settings
from mediaserver.session.call_core import (
    MIN_CHUNK_SAMPLES,
    CallCore,
    CallOutput,
    DropSpeculation,
    FinishSegment,
    SpeculateFinal,
    StreamAudio,
    pcm_from_bytes,
)
from mediaserver.session.call_options import CallOptions, parse_call_options
from mediaserver.session.states import SessionState
from tests.call_audio import PHRASES, Pcm, frames, loud_bounds, silence, speech

pytestmark = pytest.mark.needs_espeak

PAD_MS = 200  # the default speech_pad_ms
# 110 ms: resampled exactly (as by soxr HQ or VHQ), the 8 kHz "Bom dia" reaches the speech
# threshold 110 ms after its first loud frame; the pad still places the start before it.
TOLERANCE_MS = 110


@pytest.fixture(scope="module")
def batcher() -> VadBatcher:
    return VadBatcher(SileroModel())


def options(**overrides: object) -> CallOptions:
    return parse_call_options(overrides, Settings())


def conversation(rate: int) -> tuple[Pcm, list[tuple[float, float]]]:
    """Silence, phrase, silence, phrase, silence; with the loud span of each phrase (s)."""
    parts: list[Pcm] = [silence(1.0, rate)]
    spans: list[tuple[float, float]] = []
    offset = 1.0
    for text in PHRASES:
        voice = speech(text, rate)
        first, last = loud_bounds(voice, rate)
        spans.append((offset + first, offset + last))
        parts += [voice, silence(1.5, rate)]
        offset += len(voice) / rate + 1.5
    return np.concatenate(parts), spans


def run(
    cores: Iterable[tuple[CallCore, list[Pcm]]], batcher: VadBatcher, rate: int, t0: float = 0.0
) -> dict[str, CallOutput]:
    """Feed every core its frames in lockstep (20 ms apart); one batch per step, for all."""
    pairs = list(cores)
    outs = {core.call_id: CallOutput() for core, _ in pairs}
    steps = max(len(chunks) for _, chunks in pairs)
    for i in range(steps):
        now = t0 + (i + 1) * 0.02
        fed = []
        for core, chunks in pairs:
            if i < len(chunks):
                outs[core.call_id].extend(core.feed(chunks[i], rate, now))
                fed.append(core)
        batcher.run(core.vad for core in fed)
        for core in fed:
            outs[core.call_id].extend(core.vad_done(now))
    return outs


def run_one(
    core: CallCore, pcm: Pcm, batcher: VadBatcher, rate: int, t0: float = 0.0
) -> CallOutput:
    return run([(core, frames(pcm, rate))], batcher, rate, t0)[core.call_id]


def types(out: CallOutput) -> list[str]:
    return [e["type"] for e in out.events]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_conversation_events_and_positions(batcher: VadBatcher, rate: int) -> None:
    audio, spans = conversation(rate)
    core = CallCore("c1", options(), 0.0)
    out = run_one(core, audio, batcher, rate)
    end = len(audio) / rate
    out.extend(core.close(end + 0.02, batcher))

    assert types(out) == [
        "session.state",
        *["vad.speech_start", "session.state", "vad.speech_end", "session.state"] * 2,
        "session.state",
    ]
    for event in out.events:
        assert list(event)[:2] == ["type", "call_id"]
        assert event["call_id"] == "c1"
    transitions = [(e["from"], e["to"]) for e in out.events if e["type"] == "session.state"]
    assert transitions == [
        ("init", "silence"),
        *[("silence", "active"), ("active", "silence")] * 2,
        ("silence", "closing"),
    ]
    starts = [e["audio_ms"] for e in out.events if e["type"] == "vad.speech_start"]
    ends = [e["audio_ms"] for e in out.events if e["type"] == "vad.speech_end"]
    for (first, last), start_ms, end_ms in zip(spans, starts, ends, strict=True):
        assert abs(start_ms + PAD_MS - first * 1000) <= TOLERANCE_MS
        assert abs(end_ms - PAD_MS - last * 1000) <= TOLERANCE_MS
    # Nothing pending at close: CLOSING ends at once.
    assert core.state is SessionState.CLOSING or core.state is SessionState.CLOSED


@pytest.mark.parametrize("rate", [8000, 16000])
def test_engine_commands_cover_each_segment_exactly(batcher: VadBatcher, rate: int) -> None:
    audio, _ = conversation(rate)
    core = CallCore("c1", options(), 0.0)
    out = run_one(core, audio, batcher, rate)

    finishes = [c for c in out.commands if isinstance(c, FinishSegment)]
    assert [f.segment.segment_id for f in finishes] == [1, 2]
    streamed: dict[int, list[StreamAudio]] = {}
    for command in out.commands:
        if isinstance(command, StreamAudio):
            assert len(command.pcm) >= MIN_CHUNK_SAMPLES  # never 20 ms frames
            streamed.setdefault(command.utterance, []).append(command)
    for finish in finishes:
        segment = finish.segment
        chunks = streamed[segment.start_sample]
        assert all(c.segment_id == segment.segment_id for c in chunks)
        assert not finish.fresh
        # The chunks and the finishing tail are contiguous and cover the span.
        position = segment.start_sample
        for chunk in chunks:
            assert chunk.start == position
            position = chunk.end
        assert finish.start == min(position, segment.end_sample)
        given = np.concatenate([c.pcm for c in chunks] + [finish.pcm])
        expected = core.read(segment.start_sample, segment.end_sample)
        assert np.array_equal(given[: len(expected)], expected)
        assert len(given) >= len(expected)
    # Every final acked: the session lets go of the audio and the call closes cleanly.
    for finish in finishes:
        core.ack(finish.segment.segment_id, 30.0)
    closing = core.close(30.0, batcher, "hangup")
    assert types(closing)[-1] == "session.closed"
    assert closing.events[-1]["reason"] == "hangup"


@pytest.mark.parametrize("rate", [8000, 16000])
def test_each_final_is_speculated_on_exactly_its_span_before_speech_end(
    batcher: VadBatcher, rate: int
) -> None:
    """Once the silence that ends speech has lasted speech_pad_ms, the core asks for the
    final's decode on the span the segment then gets (so the speculative final is the final),
    before the segment is committed; a speculation is dropped only when speech resumes."""
    audio, _ = conversation(rate)
    core = CallCore("c1", options(), 0.0)
    out = run_one(core, audio, batcher, rate)
    finishes = [c for c in out.commands if isinstance(c, FinishSegment)]
    for finish in finishes:
        segment = finish.segment
        index = out.commands.index(finish)
        kinds = (SpeculateFinal, DropSpeculation)
        before = [
            c
            for c in out.commands[:index]
            if isinstance(c, kinds) and c.utterance == segment.start_sample
        ]
        last = before[-1]
        assert isinstance(last, SpeculateFinal)
        assert last.end == segment.end_sample
        assert np.array_equal(last.pcm, core.read(segment.start_sample, segment.end_sample))
        # Speculations replaced without a drop were on earlier silences that speech resumed
        # after (each is followed by a drop) or the same span asked once.
        spans = [(c.utterance, c.end) for c in before if isinstance(c, SpeculateFinal)]
        assert len(spans) == len(set(spans))


def test_many_calls_batched_give_the_same_events_as_each_alone(batcher: VadBatcher) -> None:
    rate = 8000
    audio, _ = conversation(rate)
    inputs = {
        "a": audio,
        "b": np.concatenate([silence(0.7, rate), audio]),
        "c": np.concatenate([silence(0.3, rate), speech(PHRASES[1], rate), silence(1.0, rate)]),
        "d": silence(3.0, rate),
    }
    together = run(
        [(CallCore(cid, options(), 0.0), frames(pcm, rate)) for cid, pcm in inputs.items()],
        batcher,
        rate,
    )
    for cid, pcm in inputs.items():
        alone = run_one(CallCore(cid, options(), 0.0), pcm, batcher, rate)
        assert together[cid].events == alone.events
        assert [type(c) for c in together[cid].commands] == [type(c) for c in alone.commands]
    assert types(together["d"]) == ["session.state"]  # silence only: present, never speaking


def test_close_during_speech_commits_it(batcher: VadBatcher) -> None:
    rate = 16000
    voice = speech(PHRASES[0], rate)
    core = CallCore("c1", options(), 0.0)
    audio = np.concatenate([silence(0.5, rate), voice[: len(voice) // 2]])
    out = run_one(core, audio, batcher, rate)
    assert core.state is SessionState.ACTIVE
    closing = core.close(10.0, batcher, "hangup")
    assert types(closing) == ["vad.speech_end", "session.state", "session.state"]
    moves = [(e["from"], e["to"]) for e in closing.events[1:]]
    assert moves == [("active", "silence"), ("silence", "closing")]
    finish = [c for c in closing.commands if isinstance(c, FinishSegment)]
    assert len(finish) == 1
    assert finish[0].segment.segment_id == 1
    assert core.state is SessionState.CLOSING
    # The final arrives: CLOSED, with the reason the transport gave.
    done = core.ack(1, 10.5)
    assert types(done) == ["session.state", "session.closed"]
    assert done.events[-1]["reason"] == "hangup"
    assert done.events[-1]["audio_ms"] == core.audio_ms
    assert not out.events[0]["type"].startswith("error")


def test_closing_times_out_without_a_final(batcher: VadBatcher) -> None:
    rate = 16000
    core = CallCore("c1", options(timeouts={"closing_s": 1.5}), 0.0)
    run_one(core, speech(PHRASES[0], rate)[:16000], batcher, rate)
    core.close(2.0, batcher)
    assert core.next_deadline() == pytest.approx(3.5)
    out = core.tick(3.5)
    # Never silently: the segment whose final never came is named before session.closed.
    assert types(out) == ["session.state", "error", "session.closed"]
    lost = out.events[1]
    assert (lost["code"], lost["segment_id"]) == ("final_lost", 1)
    assert lost["reason"] == "closing_timeout"
    assert lost["recoverable"] is False
    assert out.events[-1]["unflushed_segments"] == [1]


def test_timeouts_take_time_as_an_argument() -> None:
    core = CallCore("c1", options(timeouts={"init_s": 5, "silence_s": 10, "hold_s": 60}), 100.0)
    assert core.next_deadline() == 105.0
    assert types(core.tick(104.9)) == []
    out = core.tick(105.0)
    assert types(out) == ["session.state", "session.closed"]
    assert out.events[-1]["reason"] == "init_timeout"

    core = CallCore("c2", options(timeouts={"init_s": 5, "silence_s": 10, "hold_s": 60}), 0.0)
    core.feed(silence(0.1, 8000), 8000, 0.1)
    assert core.state is SessionState.SILENCE
    out = core.tick(10.1)
    assert types(out) == ["session.state", "session.hold"]
    out = core.tick(70.1)
    assert [e.get("to") for e in out.events] == ["closing", "closed", None]
    assert out.events[-1]["reason"] == "hold_timeout"


def test_dtmf_events_and_bad_input_change_nothing() -> None:
    core = CallCore("c1", options(), 0.0)
    core.feed(silence(0.5, 8000), 8000, 0.5)
    out = core.dtmf("5", 0.6)
    # The resampler holds back a few ms: the digit is placed at the audio received so far.
    assert 450 <= core.audio_ms <= 500
    assert out.events == [
        {"type": "dtmf", "call_id": "c1", "digit": "5", "audio_ms": core.audio_ms}
    ]
    position = core.session.audio_position
    with pytest.raises(ValueError, match="DTMF"):
        core.dtmf("x", 0.7)
    with pytest.raises(ValueError, match="rate"):
        core.feed(silence(0.02, 8000), 12, 0.7)
    with pytest.raises(ValueError, match="int16"):
        core.feed(np.zeros(160, np.float32), 8000, 0.7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="even number of bytes"):
        pcm_from_bytes(b"\x00\x01\x02")
    assert core.session.audio_position == position
    assert core.state is SessionState.SILENCE


def test_rate_change_keeps_one_timeline() -> None:
    core = CallCore("c1", options(), 0.0)
    for i in range(50):
        core.feed(silence(0.02, 8000), 8000, i * 0.02)
    for i in range(50):
        core.feed(silence(0.02, 48000), 48000, 1.0 + i * 0.02)
    core.close(2.0, VadBatcher(SileroModel()))
    assert abs(core.audio_ms - 2000) <= 20  # nothing lost or doubled at the switch


def test_force_commit_cuts_ongoing_speech(batcher: VadBatcher) -> None:
    rate = 16000
    voice = speech(PHRASES[0], rate)
    core = CallCore("c1", options(), 0.0)
    out = run_one(core, np.concatenate([silence(0.3, rate), voice[:24000]]), batcher, rate)
    assert core.state is SessionState.ACTIVE
    cut = core.commit(5.0)
    finish = [c for c in cut.commands if isinstance(c, FinishSegment)]
    assert len(finish) == 1
    assert finish[0].segment.end_sample == core.session.audio_position
    assert core.state is SessionState.ACTIVE  # the speech goes on in a new segment
    more = run_one(core, voice[24000:40000], batcher, rate, t0=5.0)
    chunks = [c for c in more.commands if isinstance(c, StreamAudio)]
    assert chunks
    assert all(c.segment_id == 2 for c in chunks)
    assert chunks[0].start == finish[0].segment.end_sample
    assert out.commands  # the first part was streamed before the cut


def test_denoised_call_still_hears_speech(batcher: VadBatcher) -> None:
    rate = 16000
    rng = np.random.default_rng(5)
    voice = speech(PHRASES[1], rate)
    audio = np.concatenate([silence(0.5, rate), voice, silence(1.0, rate)])
    noisy = np.clip(audio + rng.normal(0, 300, len(audio)), -32768, 32767).astype(np.int16)
    core = CallCore("c1", options(denoise=True), 0.0)
    out = run_one(core, noisy, batcher, rate)
    core.release()
    assert types(out).count("vad.speech_start") == 1
    assert types(out).count("vad.speech_end") == 1


def test_a_burst_past_the_speech_end_is_not_transcribed_into_that_segment(
    batcher: VadBatcher,
) -> None:
    """Audio arriving faster than the VAD decides (a WS burst) is streamed as it comes: by
    the time the first utterance's end is decided its stream holds the next one too. Its
    final must be decoded from its own span, not from that stream (which said both)."""
    rate = 16000
    core = CallCore("c1", options(), 0.0)
    first, second = speech(PHRASES[0], rate), speech(PHRASES[1], rate)
    onset = np.concatenate([silence(0.5, rate), first[: len(first) // 2]])
    out = run_one(core, onset, batcher, rate)  # real time: the start is decided, streaming
    assert any(isinstance(c, StreamAudio) for c in out.commands)
    rest = np.concatenate([first[len(first) // 2 :], silence(1.0, rate), second])
    burst = CallOutput()
    for chunk in frames(rest, rate):  # all at once, no VAD decision in between
        burst.extend(core.feed(chunk, rate, 5.0))
    batcher.run((core.vad,))
    burst.extend(core.vad_done(5.0))
    [finish] = [c for c in burst.commands if isinstance(c, FinishSegment)]
    seg = finish.segment
    assert finish.fresh
    assert (finish.start, len(finish.pcm)) == (seg.start_sample, seg.end_sample - seg.start_sample)
    streamed = max(c.end for c in burst.commands if isinstance(c, StreamAudio))
    assert streamed > seg.end_sample + 16_000  # the stream did hold the next utterance
