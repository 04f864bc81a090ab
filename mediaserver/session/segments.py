"""Commit bookkeeping for one call: segment ids, segments awaiting their final, and the WAL.

A segment is issued when a span of speech is complete (or cut), waits in `pending` until the
engine delivers its final, and is then recorded in the WAL. Finals come back in issue order (one
engine stream per call), so an ack must name the oldest pending segment; an ack for a segment the
WAL already holds is a duplicate and changes nothing.
"""

from __future__ import annotations

from collections import deque

from mediaserver.session.events import CommitSegment
from mediaserver.session.wal import RecoveryPoint, WriteAheadLog


class SegmentLedger:
    __slots__ = ("_last_end", "_next_id", "_pending", "_wal")

    def __init__(self) -> None:
        self._next_id = 1
        self._last_end = 0
        self._pending: deque[CommitSegment] = deque()
        self._wal = WriteAheadLog()

    @property
    def pending(self) -> tuple[CommitSegment, ...]:
        """Issued segments whose final has not been delivered, oldest first."""
        return tuple(self._pending)

    @property
    def oldest_start(self) -> int | None:
        """Where the audio the pending segments need begins (None when nothing is pending)."""
        return self._pending[0].start_sample if self._pending else None

    @property
    def last_end(self) -> int:
        """End of the last issued segment: the next one starts at or after it."""
        return self._last_end

    @property
    def recovery_point(self) -> RecoveryPoint:
        return self._wal.recovery_point

    def issue(self, start: int, end: int) -> CommitSegment:
        if not self._last_end <= start < end:
            raise ValueError(
                f"segment [{start}, {end}) is empty or overlaps the previous one "
                f"(ending at {self._last_end})"
            )
        segment = CommitSegment(self._next_id, start, end)
        self._next_id += 1
        self._last_end = end
        self._pending.append(segment)
        return segment

    def ack(self, segment_id: int, now_ms: int) -> CommitSegment | None:
        """Mark the oldest pending segment final; None when `segment_id` was already final."""
        if segment_id <= 0:
            raise ValueError(f"segment ids start at 1, got {segment_id}")
        if self._wal.is_committed(segment_id):
            return None
        if segment_id >= self._next_id or not self._pending:
            raise ValueError(f"segment {segment_id} is not awaiting a final")
        expected = self._pending[0].segment_id
        if segment_id != expected:
            raise ValueError(f"segment {segment_id} acked before segment {expected}")
        segment = self._pending.popleft()
        self._wal.record(segment.segment_id, segment.end_sample, now_ms)
        return segment

    def abandon_before(self, position: int, now_ms: int) -> tuple[int, ...]:
        """Give up pending segments starting before `position` (their audio is being reused).

        The WAL moves past them, so they are never re-issued and a late final counts as a
        duplicate.
        """
        lost: list[CommitSegment] = []
        while self._pending and self._pending[0].start_sample < position:
            lost.append(self._pending.popleft())
        if lost:
            self._wal.record(lost[-1].segment_id, lost[-1].end_sample, now_ms)
        return tuple(segment.segment_id for segment in lost)

    def drop_pending(self) -> tuple[int, ...]:
        """Forget every pending segment (the call is over); their ids, oldest first."""
        ids = tuple(segment.segment_id for segment in self._pending)
        self._pending.clear()
        return ids
