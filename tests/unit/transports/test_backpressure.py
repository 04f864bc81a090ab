from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaserver.transports.backpressure import Backpressure, DropReport, Verdict

FRAME_S = 0.02


def send(bp: Backpressure, start: float, frames: int, speed: float) -> list[Verdict]:
    """`frames` 20 ms frames sent at `speed` x real time from `start`; the verdicts."""
    return [bp.admit(FRAME_S, start + i * FRAME_S / speed).verdict for i in range(frames)]


def test_real_time_client_is_never_limited() -> None:
    bp = Backpressure()
    verdicts = send(bp, 100.0, 30_000, 1.0)  # 10 minutes
    assert set(verdicts) == {Verdict.ACCEPT}
    assert bp.dropped_frames == 0
    assert bp.backlog_s <= 2 * FRAME_S


def test_jittery_real_time_client_is_not_limited() -> None:
    bp = Backpressure()
    now = 0.0
    verdicts = []
    for burst in range(500):
        # 200 ms of audio arrives in one go every 200 ms (a bursty network).
        now = burst * 0.2
        verdicts += [bp.admit(FRAME_S, now).verdict for _ in range(10)]
    assert set(verdicts) == {Verdict.ACCEPT}


def test_fast_client_gets_one_rate_limit_per_episode() -> None:
    bp = Backpressure(rate_limit_factor=1.2, max_backlog_s=100.0)
    verdicts = send(bp, 0.0, 2_000, 1.5)
    assert verdicts.count(Verdict.RATE_LIMITED) == 1
    assert Verdict.DROP not in verdicts
    # Excess (counting the frame in hand) grows by 0.3 s per second of wall time, so the 0.5 s
    # burst allowance is used up after about 1.6 s.
    wall = verdicts.index(Verdict.RATE_LIMITED) * FRAME_S / 1.5
    assert (0.5 - FRAME_S) / 0.3 - FRAME_S <= wall <= 0.5 / 0.3 + 0.05
    assert bp.limited


def test_episode_ends_after_the_excess_drains_and_a_new_one_is_reported() -> None:
    bp = Backpressure(rate_limit_factor=1.2, max_backlog_s=100.0)
    send(bp, 0.0, 500, 2.0)
    assert bp.rate_limited_episodes == 1
    # Slower than the limit: the excess drains and the episode ends, without a new event.
    slow = send(bp, 10.0, 2_000, 1.0)
    assert Verdict.RATE_LIMITED not in slow
    assert not bp.limited
    again = send(bp, 60.0, 500, 2.0)
    assert again.count(Verdict.RATE_LIMITED) == 1
    assert bp.rate_limited_episodes == 2


def test_client_at_the_limit_is_not_limited() -> None:
    bp = Backpressure(rate_limit_factor=1.2)
    assert Verdict.RATE_LIMITED not in send(bp, 0.0, 5_000, 1.19)


def test_frames_beyond_the_backlog_are_dropped_and_reported_in_batches() -> None:
    bp = Backpressure(max_backlog_s=10.0, report_interval_s=1.0)
    # A client dumps 60 s of audio in 1.2 s (50x real time).
    admissions = [bp.admit(FRAME_S, i * FRAME_S / 50) for i in range(3_000)]
    accepted = sum(a.verdict is not Verdict.DROP for a in admissions)
    # What is accepted is the 10 s backlog plus the real time that passed (1.2 s).
    assert 10.0 + 1.1 <= accepted * FRAME_S <= 10.0 + 1.25
    reports = [a.report for a in admissions if a.report is not None]
    assert 1 <= len(reports) <= 3  # one per second of dropping, not one per frame
    tail = bp.flush(2.0)
    reported = sum(r.frames for r in reports) + (tail.frames if tail else 0)
    assert reported == bp.dropped_frames == 3_000 - accepted
    assert bp.dropped_audio_s == pytest.approx(bp.dropped_frames * FRAME_S)
    assert bp.flush(3.0) is None


def test_pending_drops_are_reported_on_the_next_frame_after_the_interval() -> None:
    bp = Backpressure(max_backlog_s=1.0, report_interval_s=1.0)
    first = bp.admit(1.0, 0.0)
    assert first.verdict is not Verdict.DROP
    dropped = [bp.admit(FRAME_S, 0.01) for _ in range(3)]
    assert [a.verdict for a in dropped] == [Verdict.DROP] * 3
    assert dropped[0].report == DropReport(1, FRAME_S)  # the first drop is reported at once
    assert dropped[1].report is None
    assert bp.admit(FRAME_S, 0.5).report is None  # accepted, but within the interval
    later = bp.admit(FRAME_S, 2.0)  # the interval has passed: the rest is reported
    assert later.verdict is not Verdict.DROP
    assert later.report == DropReport(2, pytest.approx(2 * FRAME_S))


def test_bad_input_raises_and_changes_nothing() -> None:
    bp = Backpressure()
    bp.admit(FRAME_S, 5.0)
    with pytest.raises(ValueError, match="backwards"):
        bp.admit(FRAME_S, 4.0)
    with pytest.raises(ValueError, match="duration"):
        bp.admit(-0.1, 6.0)
    assert bp.backlog_s == pytest.approx(FRAME_S)
    assert bp.admit(FRAME_S, 5.0).verdict is Verdict.ACCEPT
    with pytest.raises(ValueError, match="rate_limit_factor"):
        Backpressure(rate_limit_factor=0.5)
    with pytest.raises(ValueError, match="positive"):
        Backpressure(max_backlog_s=0)


@given(
    st.lists(
        st.tuples(st.floats(0.0, 0.2), st.floats(0.0, 0.5)),  # (frame duration, gap before)
        max_size=300,
    )
)
def test_accepted_audio_never_exceeds_backlog_plus_elapsed(
    frames: list[tuple[float, float]],
) -> None:
    bp = Backpressure(max_backlog_s=2.0)
    now, accepted, reported = 0.0, 0.0, 0
    for duration, gap in frames:
        now += gap
        admission = bp.admit(duration, now)
        if admission.verdict is not Verdict.DROP:
            accepted += duration
        if admission.report is not None:
            reported += admission.report.frames
    tail = bp.flush(now)
    reported += tail.frames if tail else 0
    assert accepted <= 2.0 + now + 1e-9
    assert reported == bp.dropped_frames
