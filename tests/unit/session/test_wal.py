from __future__ import annotations

import pytest

from mediaserver.session.wal import RecoveryPoint, StaleCommit, WriteAheadLog


def test_starts_with_nothing_committed() -> None:
    wal = WriteAheadLog()
    assert wal.recovery_point == RecoveryPoint(0, 0, 0)
    assert not wal.is_committed(1)


def test_records_advance_the_recovery_point() -> None:
    wal = WriteAheadLog()
    assert wal.record(1, 16_000, 1_200)
    assert wal.record(2, 48_000, 3_900)
    assert wal.recovery_point == RecoveryPoint(2, 48_000, 3_900)
    assert wal.is_committed(1)
    assert wal.is_committed(2)
    assert not wal.is_committed(3)


def test_exact_repeat_is_an_idempotent_no_op() -> None:
    wal = WriteAheadLog()
    wal.record(4, 100, 10)
    assert not wal.record(4, 100, 99)
    assert wal.recovery_point == RecoveryPoint(4, 100, 10)


@pytest.mark.parametrize(
    ("segment_id", "offset", "ms", "message"),
    [
        (2, 50, 20, "at or before the recovery point"),  # an older id
        (3, 101, 20, "at or before the recovery point"),  # same id, other offset
        (4, 99, 20, "before the recovery point offset"),
        (4, 150, 9, "before the recovery point time"),
    ],
)
def test_rejects_commits_that_would_rewrite_history(
    segment_id: int, offset: int, ms: int, message: str
) -> None:
    wal = WriteAheadLog()
    wal.record(3, 100, 10)
    with pytest.raises(StaleCommit, match=message):
        wal.record(segment_id, offset, ms)
    assert wal.recovery_point == RecoveryPoint(3, 100, 10)


def test_rejects_non_positive_ids() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        WriteAheadLog().record(0, 0, 0)
