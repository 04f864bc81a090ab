"""The in-memory write-ahead log of a call's committed segments.

It holds the recovery point: the last segment whose final was delivered, where its audio ends in
the call's sample timeline, and when (session clock, ms). After an engine crash the session
resumes from there: every segment with a larger id is re-issued from the ring buffer, none with a
smaller or equal id is, so no segment is duplicated or lost.

Recording is idempotent for an exact repeat (an engine that re-sends a final after reconnecting)
and rejects anything that would move the recovery point backwards or rewrite it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RecoveryPoint:
    """Segment ids start at 1; segment_id 0 means nothing has been committed yet."""

    segment_id: int = 0
    buffer_offset: int = 0  # sample position where the last committed segment ends
    timestamp_ms: int = 0  # session clock when it was committed


class StaleCommit(ValueError):
    """A commit that would move the recovery point backwards or contradict it."""


class WriteAheadLog:
    __slots__ = ("_point",)

    def __init__(self) -> None:
        self._point = RecoveryPoint()

    @property
    def recovery_point(self) -> RecoveryPoint:
        return self._point

    def is_committed(self, segment_id: int) -> bool:
        return segment_id <= self._point.segment_id

    def record(self, segment_id: int, buffer_offset: int, timestamp_ms: int) -> bool:
        """Record a commit; True if new, False for a repeat of the last one (a no-op).

        Raises `StaleCommit` for an id at or below the recovery point that is not an exact repeat
        of its offset, and for an offset or timestamp earlier than the recovery point's.
        """
        point = self._point
        if segment_id <= 0:
            raise ValueError(f"segment ids start at 1, got {segment_id}")
        if segment_id == point.segment_id and buffer_offset == point.buffer_offset:
            return False
        if segment_id <= point.segment_id:
            raise StaleCommit(
                f"segment {segment_id} (offset {buffer_offset}) is at or before the recovery "
                f"point (segment {point.segment_id}, offset {point.buffer_offset})"
            )
        if buffer_offset < point.buffer_offset:
            raise StaleCommit(
                f"segment {segment_id} ends at {buffer_offset}, before the recovery point "
                f"offset {point.buffer_offset}"
            )
        if timestamp_ms < point.timestamp_ms:
            raise StaleCommit(
                f"segment {segment_id} committed at {timestamp_ms} ms, before the recovery "
                f"point time {point.timestamp_ms} ms"
            )
        self._point = RecoveryPoint(segment_id, buffer_offset, timestamp_ms)
        return True
