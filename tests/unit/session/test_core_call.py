"""A 30-minute call with two holds, driven through `Session` with injected time."""

from __future__ import annotations

import tracemalloc
from collections import deque
from collections.abc import Callable

import numpy as np

from mediaserver.audio.events import SpeechEnd, SpeechStart
from mediaserver.config import SessionSettings
from mediaserver.session.events import (
    Closed,
    CommitAcked,
    CommitSegment,
    Event,
    ForceCommit,
    HoldEntered,
    StateChanged,
)
from mediaserver.session.session import Session
from mediaserver.session.states import CloseReason, SessionState

S = SessionState
RATE = 16_000
FRAME = 320  # 20 ms, as RTP delivers it
VAD_BATCH = RATE // 10  # the server runs the VAD over 100 ms batches
VAD_START_LAG = 0.3  # seconds of speech before the VAD reports its start
VAD_END_LAG = 0.5  # seconds of silence before it reports the end
ENGINE_DELAY = 0.4  # seconds from a commit to its final


def talk(turns: int) -> list[tuple[float, bool]]:
    """`turns` utterances of 4 s separated by 2 s pauses (starts and ends with speech)."""
    phases: list[tuple[float, bool]] = []
    for i in range(turns):
        if i:
            phases.append((2.0, False))
        phases.append((4.0, True))
    return phases


# (seconds, speaking): 1800 s in all, with holds of 240 s and 200 s (silence timeout: 30 s).
CALL = [
    (2.0, False),
    *talk(48),  # to 288 s
    (240.0, False),  # hold 1, to 528 s
    *talk(50),  # to 826 s
    (75.0, True),  # a monologue longer than the ring buffer, to 901 s
    (200.0, False),  # hold 2, to 1101 s
    *talk(115),  # to 1789 s
    (11.0, False),
]


def drive(
    on_event: Callable[[Event], None],
    on_minute: Callable[[Session, int], None],
    frame_samples: int = FRAME,
) -> Session:
    """Play CALL in real time; the shell's timers, VAD and engine are simulated."""
    session = Session("call-30min", SessionSettings(), now=0.0)
    frame = np.zeros(frame_samples, dtype=np.int16)
    vad: deque[tuple[float, SpeechStart | SpeechEnd]] = deque()  # (when reported, decision)
    finals: deque[tuple[float, int]] = deque()  # (when delivered, segment id)
    batch: list[SpeechStart | SpeechEnd] = []
    pos = 0

    def handle(events: list[Event], now: float) -> None:
        for event in events:
            if isinstance(event, CommitSegment):
                finals.append((now + ENGINE_DELAY, event.segment_id))
            on_event(event)

    for seconds, speaking in CALL:
        boundary = pos / RATE
        if speaking:
            vad.append((boundary + VAD_START_LAG, SpeechStart(pos)))
            vad.append((boundary + seconds + VAD_END_LAG, SpeechEnd(pos + round(seconds * RATE))))
        for _ in range(round(seconds * RATE / frame_samples)):
            now = (pos + frame_samples) / RATE  # the frame has just been received
            deadline = session.next_deadline()
            if deadline is not None and deadline <= now:  # loop.call_at fires
                handle(session.tick(deadline), deadline)
            while finals and finals[0][0] <= now:
                handle(session.ack_commit(finals.popleft()[1], now), now)
            handle(session.push_audio(frame, now), now)
            pos += frame_samples
            while vad and vad[0][0] <= now:
                batch.append(vad.popleft()[1])
            if pos % VAD_BATCH == 0 and batch:
                handle(session.push_vad(batch, now), now)
                batch = []
            if pos % (60 * RATE) == 0:
                on_minute(session, pos // (60 * RATE))
    handle(session.request_close(pos / RATE), pos / RATE)
    return session


def pairs(n: int) -> list[tuple[SessionState, SessionState]]:
    return [(S.SILENCE, S.ACTIVE), (S.ACTIVE, S.SILENCE)] * n


RETURN_FROM_HOLD = [(S.SILENCE, S.HOLD), (S.HOLD, S.ACTIVE), (S.ACTIVE, S.SILENCE)]


def test_thirty_minute_call_with_two_holds() -> None:
    events: list[Event] = []
    ring_bytes: list[int] = []
    # Wall time is measured in benchmarks/media_pipeline.py, never asserted in a test.
    session = drive(events.append, lambda s, minute: ring_bytes.append(s.ring.nbytes))

    assert [(e.from_state, e.to_state) for e in events if isinstance(e, StateChanged)] == [
        (S.INIT, S.SILENCE),
        *pairs(48),
        *RETURN_FROM_HOLD,
        *pairs(49),
        *pairs(1),  # the monologue: force commits do not change the state
        *RETURN_FROM_HOLD,
        *pairs(114),
        (S.SILENCE, S.CLOSING),
        (S.CLOSING, S.CLOSED),  # every final was in: nothing to wait for
    ]
    # HOLD starts 30 s after the VAD reported the end of the last utterance before each pause.
    holds = [e.audio_ms for e in events if isinstance(e, HoldEntered)]
    assert all(
        abs(ms - expected) <= 20 for ms, expected in zip(holds, (318_500, 931_500), strict=True)
    )

    # One segment per utterance, spans exactly the speech; the monologue is cut once, at 90 %
    # of the 60 s ring (54 s after it began), and its final releases the ring.
    speech, pos = [], 0
    for seconds, speaking in CALL:
        n = round(seconds * RATE)
        if speaking:
            speech.append((pos, pos + n))
        pos += n
    mono_start = 826 * RATE
    cut = mono_start + 54 * RATE
    expected_spans = [
        span for s in speech for span in ([(s[0], cut), (cut, s[1])] if s[0] == mono_start else [s])
    ]
    commits = [e for e in events if isinstance(e, CommitSegment)]
    assert [(c.start_sample, c.end_sample) for c in commits] == expected_spans
    assert [c.segment_id for c in commits] == list(range(1, len(expected_spans) + 1))
    assert [e.sample for e in events if isinstance(e, ForceCommit)] == [cut]
    acked = [e.segment_id for e in events if isinstance(e, CommitAcked)]
    assert acked == [c.segment_id for c in commits]  # every final once, in order
    assert events[-1] == Closed(CloseReason.REQUESTED, 1_800_000)
    assert session.recovery_point.segment_id == len(commits)

    # Bounded memory: the one preallocated ring, the same size every minute.
    assert len(ring_bytes) == 30
    assert set(ring_bytes) == {60 * RATE * 2}


def test_thirty_minute_call_memory_stays_flat() -> None:
    """After the first minutes nothing accumulates: no per-frame or per-segment growth."""
    samples: dict[int, int] = {}

    def sample(session: Session, minute: int) -> None:
        samples[minute] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        drive(lambda event: None, sample, frame_samples=VAD_BATCH)  # tracing is slow: 100 ms
    finally:
        tracemalloc.stop()
    assert samples[30] - samples[5] < 64 * 1024
