from __future__ import annotations

import pytest

from mediaserver.session.events import CommitSegment
from mediaserver.session.segments import SegmentLedger
from mediaserver.session.wal import RecoveryPoint


def test_ids_are_consecutive_and_spans_ordered() -> None:
    ledger = SegmentLedger()
    a = ledger.issue(0, 100)
    b = ledger.issue(100, 250)
    assert (a, b) == (CommitSegment(1, 0, 100), CommitSegment(2, 100, 250))
    assert ledger.pending == (a, b)
    assert ledger.oldest_start == 0
    assert ledger.last_end == 250


@pytest.mark.parametrize(("start", "end"), [(99, 200), (150, 150), (200, 150)])
def test_rejects_overlapping_or_empty_segments(start: int, end: int) -> None:
    ledger = SegmentLedger()
    ledger.issue(0, 100)
    with pytest.raises(ValueError, match="empty or overlaps"):
        ledger.issue(start, end)
    assert len(ledger.pending) == 1


def test_acks_in_order_and_duplicates_are_ignored() -> None:
    ledger = SegmentLedger()
    for i in range(3):
        ledger.issue(i * 10, i * 10 + 5)
    with pytest.raises(ValueError, match="segment 2 acked before segment 1"):
        ledger.ack(2, 0)
    with pytest.raises(ValueError, match="segment 9 is not awaiting a final"):
        ledger.ack(9, 0)
    with pytest.raises(ValueError, match="start at 1"):
        ledger.ack(0, 0)
    assert ledger.ack(1, 7) == CommitSegment(1, 0, 5)
    assert ledger.ack(1, 8) is None
    assert ledger.recovery_point == RecoveryPoint(1, 5, 7)
    assert [s.segment_id for s in ledger.pending] == [2, 3]


def test_abandon_moves_the_wal_past_lost_segments() -> None:
    ledger = SegmentLedger()
    for i in range(4):
        ledger.issue(i * 100, i * 100 + 50)
    assert ledger.abandon_before(150, 30) == (1, 2)
    assert ledger.recovery_point == RecoveryPoint(2, 150, 30)
    assert ledger.ack(2, 40) is None  # a late final for a lost segment is a duplicate
    assert ledger.abandon_before(150, 40) == ()
    assert ledger.drop_pending() == (3, 4)
    assert ledger.pending == ()
    assert ledger.oldest_start is None
    with pytest.raises(ValueError, match="not awaiting"):
        ledger.ack(3, 50)
