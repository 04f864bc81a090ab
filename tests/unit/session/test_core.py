from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import pytest

from mediaserver.audio.events import SpeechEnd, SpeechStart
from mediaserver.config import SessionSettings
from mediaserver.session.events import (
    AudioOverrun,
    Closed,
    CommitAcked,
    CommitSegment,
    Event,
    ForceCommit,
    HoldEntered,
    SpeechEnded,
    SpeechStarted,
    StateChanged,
)
from mediaserver.session.session import Session
from mediaserver.session.states import CloseReason, InvalidTransition, SessionState
from mediaserver.session.wal import RecoveryPoint

S = SessionState
RATE = 16_000
SETTINGS = SessionSettings()
E = TypeVar("E")


def pcm(seconds: float, start: int = 0) -> np.ndarray:
    """Audio whose samples encode their position, so spans read back can be checked."""
    n = round(seconds * RATE)
    return (np.arange(start, start + n) % 32768).astype(np.int16)


def moves(events: Sequence[Event]) -> list[tuple[SessionState, SessionState]]:
    return [(e.from_state, e.to_state) for e in events if isinstance(e, StateChanged)]


def of(events: Sequence[Event], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def push(session: Session, seconds: float, now: float) -> list[Event]:
    return session.push_audio(pcm(seconds, session.audio_position), now)


def session_in(state: SessionState) -> tuple[Session, float]:
    """A session brought to `state` through public inputs only; returns it and the time."""
    s = Session("call-1", SETTINGS, now=0.0)
    if state is S.INIT:
        return s, 0.0
    push(s, 2.0, 2.0)  # SILENCE
    if state is S.SILENCE:
        return s, 2.0
    if state is S.HOLD:
        s.tick(32.0)
        return s, 32.0
    s.push_vad([SpeechStart(RATE)], 2.0)  # ACTIVE
    if state is S.ACTIVE:
        return s, 2.0
    assert state is S.CLOSING
    s.request_close(2.5)  # the open speech becomes segment 1, awaiting its final
    return s, 2.5


Action = Callable[[Session, float], list[Event]]


def _timeout(session: Session, now: float) -> list[Event]:
    deadline = session.next_deadline()
    assert deadline is not None
    return session.tick(deadline)


ACTIONS: dict[str, Action] = {
    "audio": lambda s, t: push(s, 0.02, t + 1),
    "speech start": lambda s, t: s.push_vad([SpeechStart(RATE)], t),
    "speech end": lambda s, t: s.push_vad([SpeechEnd(2 * RATE)], t),
    "timeout": _timeout,
    "close": lambda s, t: s.request_close(t),
    "fail": lambda s, t: s.fail(t, "x"),
    "final": lambda s, t: s.ack_commit(1, t),
}

# (state, action, the states it passes through): one case per entry of the table.
CASES = [
    (S.INIT, "audio", [S.SILENCE]),
    (S.INIT, "timeout", [S.CLOSED]),
    (S.INIT, "close", [S.CLOSING, S.CLOSED]),  # nothing to flush: CLOSING ends at once
    (S.INIT, "fail", [S.CLOSED]),
    (S.ACTIVE, "speech end", [S.SILENCE]),
    (S.ACTIVE, "close", [S.CLOSING]),  # the open speech is committed; CLOSING awaits it
    (S.ACTIVE, "fail", [S.CLOSED]),
    (S.SILENCE, "speech start", [S.ACTIVE]),
    (S.SILENCE, "timeout", [S.HOLD]),
    (S.SILENCE, "close", [S.CLOSING, S.CLOSED]),
    (S.SILENCE, "fail", [S.CLOSED]),
    (S.HOLD, "speech start", [S.ACTIVE]),
    (S.HOLD, "timeout", [S.CLOSING, S.CLOSED]),
    (S.HOLD, "close", [S.CLOSING, S.CLOSED]),
    (S.HOLD, "fail", [S.CLOSED]),
    (S.CLOSING, "final", [S.CLOSED]),
    (S.CLOSING, "timeout", [S.CLOSED]),
    (S.CLOSING, "fail", [S.CLOSED]),
]


@pytest.mark.parametrize(("state", "action", "path"), CASES)
def test_every_table_entry_through_the_session(
    state: SessionState, action: str, path: list[SessionState]
) -> None:
    session, now = session_in(state)
    assert session.state is state
    events = ACTIONS[action](session, now)
    assert moves(events) == list(zip([state, *path], path, strict=False))
    assert session.state is path[-1]
    assert len(of(events, HoldEntered)) == (path[-1] is S.HOLD)
    assert len(of(events, Closed)) == (path[-1] is S.CLOSED)


@pytest.mark.parametrize(
    ("state", "timeout"), [(S.INIT, 30.0), (S.SILENCE, 30.0), (S.HOLD, 300.0), (S.CLOSING, 15.0)]
)
def test_timers_fire_exactly_at_their_deadline(state: SessionState, timeout: float) -> None:
    session, now = session_in(state)
    assert session.next_deadline() == now + timeout
    assert session.tick(now + timeout - 0.001) == []
    assert session.state is state
    assert moves(session.tick(now + timeout))[0][0] is state


def test_no_timer_while_active_or_closed() -> None:
    session, now = session_in(S.ACTIVE)
    assert session.next_deadline() is None
    assert session.tick(now + 10_000) == []
    session.fail(now + 10_000, "x")
    assert session.next_deadline() is None


def test_speech_becomes_a_commit_and_its_ack_moves_fence_and_wal() -> None:
    s = Session("c", SETTINGS, now=0.0)
    push(s, 3.0, 3.0)
    started = s.push_vad([SpeechStart(16_000)], 3.0)
    assert started == [
        SpeechStarted(16_000, 1000),
        StateChanged(S.SILENCE, S.ACTIVE, 3000),
    ]
    assert s.speech_start == 16_000
    ended = s.push_vad([SpeechEnd(40_000)], 3.1)
    assert ended == [
        SpeechEnded(40_000, 2500),
        StateChanged(S.ACTIVE, S.SILENCE, 3000),
        CommitSegment(1, 16_000, 40_000),
    ]
    assert s.ring.fence == 16_000  # the segment's audio is protected until its final
    assert np.array_equal(s.ring.read(16_000, 40_000), pcm(1.5, 16_000))
    assert s.ack_commit(1, 3.4) == [CommitAcked(1, 40_000, 2500)]
    assert s.recovery_point == RecoveryPoint(1, 40_000, 3400)
    assert s.ring.fence == 40_000
    assert s.ack_commit(1, 3.5) == []  # a repeated final is a duplicate: nothing to publish


def test_a_batch_can_hold_several_decisions() -> None:
    s = Session("c", SETTINGS, now=0.0)
    push(s, 3.0, 3.0)
    events = s.push_vad([SpeechStart(1000), SpeechEnd(9000), SpeechStart(20_000)], 3.0)
    assert moves(events) == [(S.SILENCE, S.ACTIVE), (S.ACTIVE, S.SILENCE), (S.SILENCE, S.ACTIVE)]
    assert of(events, CommitSegment) == [CommitSegment(1, 1000, 9000)]
    assert s.speech_start == 20_000


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([SpeechStart(100), SpeechEnd(50)], "before 100"),
        ([SpeechStart(100), SpeechEnd(48_001)], "ahead of the audio pushed"),
        ([SpeechStart(100), SpeechStart(200)], "speech_start is not valid in state active"),
        ([SpeechEnd(100)], "speech_end is not valid in state silence"),
        ([SpeechStart(100), "speech"], "not a VAD event: str"),
    ],
)
def test_bad_vad_batches_change_nothing(batch: list[object], message: str) -> None:
    s = Session("c", SETTINGS, now=0.0)
    push(s, 3.0, 3.0)
    with pytest.raises(ValueError, match=message):
        s.push_vad(batch, 3.0)  # type: ignore[arg-type]  # deliberately malformed input
    assert (s.state, s.speech_start, s.pending) == (S.SILENCE, None, ())
    assert moves(s.push_vad([SpeechStart(100)], 3.0)) == [(S.SILENCE, S.ACTIVE)]


def test_vad_before_any_audio_is_an_invalid_transition() -> None:
    s = Session("c", SETTINGS, now=0.0)
    with pytest.raises(InvalidTransition):
        s.push_vad([SpeechStart(0)], 0.0)
    assert s.state is S.INIT


def test_bad_audio_and_bad_time_change_nothing() -> None:
    s = Session("c", SETTINGS, now=5.0)
    with pytest.raises(ValueError, match="1-D int16"):
        s.push_audio(np.zeros(10, dtype=np.float32), 5.0)
    with pytest.raises(ValueError, match="exceeds the ring buffer"):
        s.push_audio(np.zeros(61 * RATE, dtype=np.int16), 5.0)
    with pytest.raises(ValueError, match="time went backwards"):
        s.tick(4.9)
    with pytest.raises(ValueError, match="finite"):
        s.tick(float("nan"))
    assert (s.state, s.audio_position, s.next_deadline()) == (S.INIT, 0, 35.0)
    assert s.push_audio(np.zeros(0, dtype=np.int16), 6.0) == []  # empty: not yet audio
    assert s.state is S.INIT
    with pytest.raises(ValueError, match="silence timeout"):
        Session("c", SessionSettings(silence_timeout_s=-1), now=0.0)


def test_a_late_tick_plays_every_deadline_out() -> None:
    session, _ = session_in(S.SILENCE)  # silent since t=2
    events = session.tick(1000.0)
    assert moves(events) == [(S.SILENCE, S.HOLD), (S.HOLD, S.CLOSING), (S.CLOSING, S.CLOSED)]
    assert of(events, Closed) == [Closed(CloseReason.HOLD_TIMEOUT, 2000)]


def test_inputs_apply_due_timeouts_first() -> None:
    session, _ = session_in(S.SILENCE)  # silent since t=2, so HOLD was due at t=32
    push(session, 1.0, 31.0)
    events = session.push_vad([SpeechStart(2 * RATE)], 40.0)
    assert moves(events) == [(S.SILENCE, S.HOLD), (S.HOLD, S.ACTIVE)]


def test_speech_resets_the_silence_timer() -> None:
    session, _ = session_in(S.SILENCE)
    push(session, 20.0, 22.0)
    session.push_vad([SpeechStart(10 * RATE)], 22.0)
    session.push_vad([SpeechEnd(15 * RATE)], 23.0)
    assert session.next_deadline() == 53.0
    assert session.tick(52.9) == []


def test_ring_nearly_full_cuts_the_speech_and_speech_goes_on() -> None:
    s = Session("c", SessionSettings(ring_buffer_s=10.0), now=0.0)
    push(s, 1.0, 1.0)
    s.push_vad([SpeechStart(RATE)], 1.0)
    events: list[Event] = []
    t = 1.0
    while not of(events, ForceCommit):
        t += 0.1
        events = push(s, 0.1, t)
    # The protected audio (from the speech start) reached 90 % of 10 s at 10 s of audio.
    assert s.audio_position == 10 * RATE
    assert events == [ForceCommit(10 * RATE, 10_000), CommitSegment(1, RATE, 10 * RATE)]
    assert s.state is S.ACTIVE
    assert s.speech_start == 10 * RATE
    s.ack_commit(1, t)
    push(s, 1.0, t + 1)
    ended = s.push_vad([SpeechEnd(10 * RATE + 8000)], t + 1)
    assert of(ended, CommitSegment) == [CommitSegment(2, 10 * RATE, 10 * RATE + 8000)]


def test_force_commit_on_request_and_a_speech_end_inside_the_cut_span() -> None:
    session, now = session_in(S.ACTIVE)  # speech since sample 16000, 2 s of audio
    events = session.force_commit(now)
    assert events == [ForceCommit(2 * RATE, 2000), CommitSegment(1, RATE, 2 * RATE)]
    assert session.force_commit(now) == []  # nothing new to cut
    # The VAD's end lags the audio: it lands inside what was already committed.
    ended = session.push_vad([SpeechEnd(RATE + 9000)], now)
    assert of(ended, CommitSegment) == []
    assert session.state is S.SILENCE
    # A start before the last commit's end is moved up: spans never overlap.
    started = session.push_vad([SpeechStart(RATE + 9500)], now)
    assert of(started, SpeechStarted) == [SpeechStarted(2 * RATE, 2000)]
    silent, t = session_in(S.SILENCE)
    assert silent.force_commit(t) == []


def test_close_waits_for_pending_finals_then_closes() -> None:
    session, now = session_in(S.ACTIVE)
    events = session.request_close(now + 0.5)
    assert events == [StateChanged(S.ACTIVE, S.CLOSING, 2000), CommitSegment(1, RATE, 2 * RATE)]
    assert session.request_close(now + 0.6) == []  # closing twice is harmless
    assert push(session, 1.0, now + 0.7) == []  # audio while closing is not kept
    assert session.audio_position == 2 * RATE
    assert session.push_vad([SpeechEnd(2 * RATE)], now + 0.8) == []
    done = session.ack_commit(1, now + 1.0)
    assert done == [
        CommitAcked(1, 2 * RATE, 2000),
        StateChanged(S.CLOSING, S.CLOSED, 2000),
        Closed(CloseReason.REQUESTED, 2000),
    ]


def test_closing_timeout_reports_unflushed_segments() -> None:
    session, now = session_in(S.CLOSING)
    assert session.tick(now + 14.9) == []  # in-flight finals get a generous wait
    events = session.tick(now + 15.0)
    assert of(events, Closed) == [Closed(CloseReason.REQUESTED, 2000, unflushed=(1,))]
    assert session.recover() == []
    assert session.ack_commit(1, now + 16.0) == []  # too late: the call is over


def test_failure_closes_at_once_and_closed_is_terminal() -> None:
    session, now = session_in(S.ACTIVE)
    events = session.fail(now, "engine_unavailable")
    assert events == [
        StateChanged(S.ACTIVE, S.CLOSED, 2000),
        Closed(CloseReason.ERROR, 2000, detail="engine_unavailable"),
    ]
    later = now + 1000
    assert push(session, 1.0, later) == []
    assert session.push_vad([SpeechStart(RATE)], later) == []
    assert session.request_close(later) == []
    assert session.fail(later, "again") == []
    assert session.force_commit(later) == []
    assert session.tick(later) == []
    assert session.state is S.CLOSED
    assert session.close_reason is CloseReason.ERROR


def test_engine_crash_mid_segment_recovers_exactly_the_unacked_segments() -> None:
    s = Session("c", SETTINGS, now=0.0)
    t = 0.0
    for i in range(6):  # six utterances of 1 s with 1 s of silence between them
        t += 2.0
        push(s, 2.0, t)
        s.push_vad([SpeechStart(2 * i * RATE), SpeechEnd((2 * i + 1) * RATE)], t)
    for segment_id in (1, 2, 3, 4):
        s.ack_commit(segment_id, t)
    # Segment 7 is being spoken when the engine dies; 5 and 6 never got their finals.
    push(s, 1.0, t + 1)
    s.push_vad([SpeechStart(12 * RATE)], t + 1)
    assert s.recovery_point.segment_id == 4
    replay = s.recover()
    assert replay == [CommitSegment(5, 8 * RATE, 9 * RATE), CommitSegment(6, 10 * RATE, 11 * RATE)]
    assert s.recover() == replay  # asking again re-issues nothing new
    for segment in replay:  # the audio is still protected and intact
        n = segment.end_sample - segment.start_sample
        expected = pcm(n / RATE, segment.start_sample)
        assert np.array_equal(s.ring.read(segment.start_sample, segment.end_sample), expected)
    assert s.speech_start == 12 * RATE  # where the new worker's stream restarts
    # The new worker delivers the replayed finals, then the open one; an old final comes twice.
    delivered: list[CommitAcked] = []
    for segment_id in (4, 5, 6):
        delivered += of(s.ack_commit(segment_id, t + 2), CommitAcked)
    push(s, 1.0, t + 3)
    committed = of(s.push_vad([SpeechEnd(13 * RATE)], t + 3), CommitSegment)
    assert committed == [CommitSegment(7, 12 * RATE, 13 * RATE)]
    delivered += of(s.ack_commit(7, t + 3), CommitAcked)
    assert [e.segment_id for e in delivered] == [5, 6, 7]
    assert s.recover() == []


def test_acks_must_follow_issue_order() -> None:
    s = Session("c", SETTINGS, now=0.0)
    push(s, 3.0, 3.0)
    s.push_vad([SpeechStart(0), SpeechEnd(100), SpeechStart(200), SpeechEnd(300)], 3.0)
    with pytest.raises(ValueError, match="segment 2 acked before segment 1"):
        s.ack_commit(2, 3.0)
    with pytest.raises(ValueError, match="segment 3 is not awaiting"):
        s.ack_commit(3, 3.0)
    assert [seg.segment_id for seg in s.pending] == [1, 2]


def test_long_silence_never_fills_the_ring_and_a_late_start_keeps_its_audio() -> None:
    s = Session("c", SessionSettings(ring_buffer_s=10.0, silence_timeout_s=1e9), now=0.0)
    t = 0.0
    for _ in range(3000):  # five minutes of silence in 100 ms chunks
        t += 0.1
        assert of(push(s, 0.1, t), ForceCommit) == []
    assert s.ring.uncommitted <= s.ring.capacity // 2
    start = s.audio_position - 3 * RATE  # the VAD reports speech that began 3 s ago
    events = s.push_vad([SpeechStart(start)], t)
    assert of(events, SpeechStarted) == [SpeechStarted(start, start // 16)]
    push(s, 0.5, t + 0.5)
    segment = of(s.push_vad([SpeechEnd(s.audio_position)], t + 0.5), CommitSegment)[0]
    assert isinstance(segment, CommitSegment)
    assert np.array_equal(
        s.ring.read(segment.start_sample, segment.end_sample),
        pcm(3.5, start),
    )


def test_finals_lagging_a_whole_ring_give_up_the_oldest_segments() -> None:
    s = Session("c", SessionSettings(ring_buffer_s=10.0), now=0.0)
    push(s, 4.0, 4.0)
    s.push_vad([SpeechStart(0), SpeechEnd(RATE), SpeechStart(2 * RATE), SpeechEnd(3 * RATE)], 4.0)
    # The engine is stuck: segments 1 and 2 stay pending while audio keeps coming.
    t = 4.0
    overruns: list[Event] = []
    while not overruns:
        t += 0.5
        overruns = of(push(s, 0.5, t), AudioOverrun)
    assert s.audio_position == 10 * RATE + 8000
    assert overruns == [AudioOverrun(0, 8000, (1,), 10_000)]
    assert s.recover() == [CommitSegment(2, 2 * RATE, 3 * RATE)]
    assert s.recovery_point.segment_id == 1
    assert s.ack_commit(1, t) == []  # its final is late: it was reported lost
    assert of(s.ack_commit(2, t), CommitAcked) == [CommitAcked(2, 3 * RATE, 3000)]
