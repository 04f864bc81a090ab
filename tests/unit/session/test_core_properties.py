"""Property tests: whatever the VAD says and however time passes, the session stays consistent."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaserver.audio.events import SpeechEnd, SpeechStart
from mediaserver.config import SessionSettings
from mediaserver.session.events import CommitAcked, CommitSegment, Event, StateChanged
from mediaserver.session.session import Session
from mediaserver.session.states import TRANSITIONS, SessionState

S = SessionState
RATE = 16_000
# The smallest ring allowed, so force commits and overruns happen within a few operations.
SETTINGS = SessionSettings(ring_buffer_s=5.0)
LEGAL = {(src, dst) for (src, _), dst in TRANSITIONS.items()}

# Closing and failing end a script early, so they are drawn rarely; waits are mostly short.
KINDS = ["audio"] * 6 + ["vad"] * 5 + ["wait"] * 3 + ["final"] * 3 + ["force", "close", "fail"]
seconds = st.one_of(st.sampled_from([0.02, 0.5, 2.0, 31.0, 301.0]), st.floats(0, 10))
ops = st.tuples(st.sampled_from(KINDS), st.integers(0, 3 * RATE), seconds)
Op = tuple[str, int, float]


@dataclass
class Observer:
    """Checks every event as it comes out of the session."""

    state: SessionState = S.INIT
    closed: bool = False
    next_id: int = 1
    last_end: int = 0
    issued: list[int] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)

    def see(self, events: list[Event]) -> None:
        if self.closed:
            assert events == [], "CLOSED is terminal: no event after it"
        for event in events:
            if isinstance(event, StateChanged):
                assert event.from_state is self.state
                assert (event.from_state, event.to_state) in LEGAL
                self.state = event.to_state
                self.closed = self.state is S.CLOSED
            elif isinstance(event, CommitSegment):
                assert event.segment_id == self.next_id
                assert self.last_end <= event.start_sample < event.end_sample
                self.next_id += 1
                self.last_end = event.end_sample
                self.issued.append(event.segment_id)
            elif isinstance(event, CommitAcked):
                self.acked.append(event.segment_id)


def check_invariants(session: Session, seen: Observer) -> None:
    ring = session.ring
    assert session.state is seen.state
    assert 0 <= ring.fence <= ring.written
    assert ring.written - ring.fence <= ring.capacity
    assert ring.nbytes == 5 * RATE * 2
    assert (session.speech_start is not None) == (session.state is S.ACTIVE)
    replay = session.recover()
    assert replay == list(session.pending)
    for segment in replay:  # every segment awaiting its final can still be re-read
        assert segment.segment_id > session.recovery_point.segment_id
        assert segment.start_sample >= ring.fence
        ring.read(segment.start_sample, segment.end_sample)
    assert seen.acked == sorted(set(seen.acked))  # each final once, in issue order
    assert set(seen.acked) <= set(seen.issued)


def run(script: list[Op], honest_vad: bool) -> None:
    session = Session("prop", SETTINGS, now=0.0)
    seen = Observer()
    now = 0.0
    speaking, last = False, 0  # the VAD's own view
    for op, arg, wait in script:
        if op == "audio":
            ms = arg % 4000 // 20 * 20
            seen.see(session.push_audio(np.zeros(ms * 16, dtype=np.int16), now))
        elif op == "wait":
            now += wait
            seen.see(session.tick(now))
        elif op == "vad":
            seen.see(session.tick(now))  # so a rejected batch is compared after due timeouts
            written = session.audio_position
            sample = max(last, written - arg) if honest_vad else arg
            event = SpeechEnd(sample) if speaking else SpeechStart(sample)
            if honest_vad:
                if written == 0 or sample > written:
                    continue  # no audio to decide on yet
                seen.see(session.push_vad([event], now))
                speaking, last = not speaking, sample
            else:
                push_arbitrary(session, seen, event, now)
                speaking = not speaking
        elif op == "final":
            if session.pending:
                seen.see(session.ack_commit(session.pending[0].segment_id, now))
        elif op == "force":
            seen.see(session.force_commit(now))
        elif op == "close":
            seen.see(session.request_close(now))
        else:
            seen.see(session.fail(now, "test"))
        check_invariants(session, seen)


def snapshot(session: Session) -> tuple[object, ...]:
    return (
        session.state,
        session.audio_position,
        session.ring.fence,
        session.speech_start,
        session.pending,
        session.recovery_point,
        session.next_deadline(),
    )


def push_arbitrary(
    session: Session, seen: Observer, event: SpeechStart | SpeechEnd, now: float
) -> None:
    before = snapshot(session)
    try:
        events = session.push_vad([event], now)
    except ValueError:
        assert snapshot(session) == before  # refused input changes nothing
    else:
        seen.see(events)


@settings(max_examples=200, deadline=None)
@given(st.lists(ops, min_size=10, max_size=120))
def test_a_consistent_vad_never_causes_an_invalid_transition(
    script: list[Op],
) -> None:
    run(script, honest_vad=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(ops, min_size=10, max_size=120))
def test_arbitrary_vad_decisions_are_applied_or_refused_whole(
    script: list[Op],
) -> None:
    run(script, honest_vad=False)
