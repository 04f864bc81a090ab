"""The per-call core: state machine, ring buffer, WAL and the session that composes them (pure)."""

from mediaserver.session.ring_buffer import RingBuffer, RingBufferOverflow
from mediaserver.session.session import Session
from mediaserver.session.states import CloseReason, InvalidTransition, SessionState, Trigger
from mediaserver.session.wal import RecoveryPoint, StaleCommit, WriteAheadLog

__all__ = [
    "CloseReason",
    "InvalidTransition",
    "RecoveryPoint",
    "RingBuffer",
    "RingBufferOverflow",
    "Session",
    "SessionState",
    "StaleCommit",
    "Trigger",
    "WriteAheadLog",
]
