"""CallCore under arbitrary sequences of inputs: invariants of its events and engine commands."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import event as note
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaserver.audio.silero import SileroModel
from mediaserver.audio.vad import VadBatcher
from mediaserver.config import Settings
from mediaserver.session.call_core import CallCore, CallOutput, FinishSegment, StreamAudio
from mediaserver.session.call_options import parse_call_options
from tests.call_audio import PHRASES, Pcm, speech

RATE = 8000

Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("speech"), st.integers(1, 100)),  # 20 ms frames of espeak-ng speech
        st.tuples(st.just("silence"), st.integers(1, 80)),
        st.tuples(st.just("frame"), st.integers(1, 2000)),  # an odd-sized frame
        st.tuples(st.just("dtmf"), st.integers(0, 9)),
        st.tuples(st.just("commit"), st.just(0)),
        st.tuples(st.just("wait"), st.integers(1, 40)),  # seconds without input
        st.tuples(st.just("ack"), st.just(0)),
    ),
    max_size=25,
)

_BATCHER: list[VadBatcher] = []


def batcher() -> VadBatcher:
    if not _BATCHER:
        _BATCHER.append(VadBatcher(SileroModel()))
    return _BATCHER[0]


def apply(core: CallCore, step: Step, now: float, voice: Pcm) -> CallOutput:
    kind, n = step
    out = CallOutput()
    if kind in ("speech", "silence", "frame"):
        frame = RATE // 50
        if kind == "speech":
            start = (int(now * 1000) * frame) % (len(voice) - n * frame)
            chunks = [voice[start + i * frame : start + (i + 1) * frame] for i in range(n)]
        elif kind == "silence":
            chunks = [np.zeros(frame, np.int16)] * n
        else:
            chunks = [voice[:n]]
        for pcm in chunks:
            out.extend(core.feed(pcm, RATE, now))
        batcher().run((core.vad,))
        out.extend(core.vad_done(now))
    elif kind == "dtmf":
        out.extend(core.dtmf(str(n), now))
    elif kind == "commit":
        out.extend(core.commit(now))
    elif kind == "wait":
        out.extend(core.tick(now))
    return out


@pytest.mark.slow
@pytest.mark.needs_espeak
@settings(max_examples=40, deadline=None)
@given(steps)
def test_events_and_commands_stay_consistent(script: list[Step]) -> None:
    voice = np.tile(speech(PHRASES[0], RATE), 3)
    core = CallCore("c1", parse_call_options({}, Settings()), 0.0)
    out = CallOutput()
    now = 0.0
    pending: list[int] = []
    for step in script:
        now += step[1] if step[0] == "wait" else 0.5
        if step[0] == "ack":
            if pending:
                out.extend(core.ack(pending.pop(0), now))
            continue
        produced = apply(core, step, now, voice)
        pending += [c.segment.segment_id for c in produced.commands if isinstance(c, FinishSegment)]
        out.extend(produced)
    out.extend(core.close(now + 0.5, batcher()))
    pending += [c.segment.segment_id for c in out.commands if isinstance(c, FinishSegment)]
    for segment_id in sorted(set(pending)):
        out.extend(core.ack(segment_id, now + 1))
    out.extend(core.tick(now + 10))

    events = out.events
    for event in events:
        assert list(event)[:2] == ["type", "call_id"]
    kinds = [e["type"] for e in events]
    note(f"segments: {min(kinds.count('vad.speech_end'), 3)}")
    # Closed exactly once, and last.
    assert kinds.count("session.closed") == 1
    assert kinds[-1] == "session.closed"
    # Speech starts and ends alternate, starting with a start.
    vad = [k for k in kinds if k.startswith("vad.")]
    assert all(
        k == ("vad.speech_start" if i % 2 == 0 else "vad.speech_end") for i, k in enumerate(vad)
    )
    # Transitions chain: each one starts where the previous ended.
    moves = [(e["from"], e["to"]) for e in events if e["type"] == "session.state"]
    for (_, to), (frm, _) in itertools.pairwise(moves):
        assert frm == to
    # Segments: ids 1..n once each, spans in order, never overlapping; chunks >= 100 ms.
    finishes = [c for c in out.commands if isinstance(c, FinishSegment)]
    assert [f.segment.segment_id for f in finishes] == list(range(1, len(finishes) + 1))
    for a, b in itertools.pairwise(finishes):
        assert a.segment.end_sample <= b.segment.start_sample
    assert all(len(c.pcm) >= 1600 for c in out.commands if isinstance(c, StreamAudio))
    # audio_ms never goes past the audio received.
    assert all(e.get("audio_ms", 0) <= core.audio_ms for e in events)
