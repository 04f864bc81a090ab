"""The call's state machine: states, triggers and the one table that links them.

Everything that moves a session between states is listed in `TRANSITIONS`; the few triggers
that are harmless in a state (late audio or VAD decisions while the call is closing, a second
close request) are listed in `IGNORED`; any other (state, trigger) pair is a bug in whoever fired
it and raises `InvalidTransition`. `apply_trigger` is the only function that reads the tables.

    INIT ──audio──> SILENCE <──speech end── ACTIVE
      │               │  ▲                    ▲
      │        30 s   │  └──────speech────────┤
      │               ▼                       │
      │             HOLD ──────speech─────────┘
      │               │ 5 min
      │               ▼
      │  close ──> CLOSING ──flushed / 15 s─> CLOSED <── fatal error (from any state)
      └──────────────────── 30 s without audio ─────────┘

INIT leaves on the first audio, not on the first speech: a caller who listens to a prompt in
silence is present, so the silence timer (and later HOLD) applies to them, while the INIT timer
only ends calls whose media never arrived. The session therefore reaches ACTIVE through SILENCE.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class SessionState(StrEnum):
    INIT = "init"
    ACTIVE = "active"
    SILENCE = "silence"
    HOLD = "hold"
    CLOSING = "closing"
    CLOSED = "closed"


class Trigger(StrEnum):
    AUDIO = "audio"  # audio was pushed (only the first push matters)
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"
    INIT_TIMEOUT = "init_timeout"
    SILENCE_TIMEOUT = "silence_timeout"
    HOLD_TIMEOUT = "hold_timeout"
    CLOSING_TIMEOUT = "closing_timeout"
    CLOSE_REQUESTED = "close_requested"
    FLUSHED = "flushed"  # every committed segment got its final while CLOSING
    FATAL_ERROR = "fatal_error"
    PLAYBACK_START = "playback_start"  # the call started speaking to the caller (TTS)
    PLAYBACK_END = "playback_end"  # ... and stopped


class CloseReason(StrEnum):
    """Why a call ended; decided by the trigger that first left the live states."""

    REQUESTED = "requested"
    INIT_TIMEOUT = "init_timeout"
    HOLD_TIMEOUT = "hold_timeout"
    ERROR = "error"


S = SessionState
T = Trigger

TRANSITIONS: Final[Mapping[tuple[SessionState, Trigger], SessionState]] = {
    (S.INIT, T.AUDIO): S.SILENCE,
    (S.INIT, T.INIT_TIMEOUT): S.CLOSED,  # nothing to flush: no audio ever came
    (S.INIT, T.CLOSE_REQUESTED): S.CLOSING,
    (S.INIT, T.FATAL_ERROR): S.CLOSED,
    (S.ACTIVE, T.SPEECH_END): S.SILENCE,
    (S.ACTIVE, T.CLOSE_REQUESTED): S.CLOSING,
    (S.ACTIVE, T.FATAL_ERROR): S.CLOSED,
    (S.SILENCE, T.SPEECH_START): S.ACTIVE,
    (S.SILENCE, T.SILENCE_TIMEOUT): S.HOLD,
    (S.SILENCE, T.CLOSE_REQUESTED): S.CLOSING,
    (S.SILENCE, T.FATAL_ERROR): S.CLOSED,
    (S.SILENCE, T.PLAYBACK_START): S.SILENCE,  # re-entry: the timer waits for the playback end
    (S.SILENCE, T.PLAYBACK_END): S.SILENCE,  # re-entry: silence counts from the playback end
    (S.HOLD, T.SPEECH_START): S.ACTIVE,
    (S.HOLD, T.HOLD_TIMEOUT): S.CLOSING,
    (S.HOLD, T.CLOSE_REQUESTED): S.CLOSING,
    (S.HOLD, T.FATAL_ERROR): S.CLOSED,
    (S.HOLD, T.PLAYBACK_START): S.SILENCE,  # the caller is being spoken to: listening
    (S.CLOSING, T.FLUSHED): S.CLOSED,
    (S.CLOSING, T.CLOSING_TIMEOUT): S.CLOSED,
    (S.CLOSING, T.FATAL_ERROR): S.CLOSED,
}

_LIVE_AFTER_INIT = (S.ACTIVE, S.SILENCE, S.HOLD)
_ENDING = (S.CLOSING, S.CLOSED)

# Triggers that change nothing in these states. Audio keeps flowing for the whole call; VAD
# decisions computed in a batch may land after a close; closing twice is not an error. Playback
# does not prove the caller's media arrives (INIT), has no timer to hold off while the caller
# speaks (ACTIVE) and no meaning once closing; HOLD cannot be entered while the call plays.
_PLAYBACK = (T.PLAYBACK_START, T.PLAYBACK_END)
IGNORED: Final[frozenset[tuple[SessionState, Trigger]]] = frozenset(
    [(state, T.AUDIO) for state in (*_LIVE_AFTER_INIT, *_ENDING)]
    + [(state, trigger) for state in (S.INIT, S.ACTIVE, *_ENDING) for trigger in _PLAYBACK]
    + [(state, trigger) for state in _ENDING for trigger in (T.SPEECH_START, T.SPEECH_END)]
    + [(state, T.CLOSE_REQUESTED) for state in _ENDING]
    + [(S.CLOSED, T.FATAL_ERROR)]
)

# The timer each state arms on entry; the duration comes from `SessionSettings`.
TIMEOUTS: Final[Mapping[SessionState, Trigger]] = {
    S.INIT: T.INIT_TIMEOUT,
    S.SILENCE: T.SILENCE_TIMEOUT,
    S.HOLD: T.HOLD_TIMEOUT,
    S.CLOSING: T.CLOSING_TIMEOUT,
}

CLOSE_REASONS: Final[Mapping[Trigger, CloseReason]] = {
    T.INIT_TIMEOUT: CloseReason.INIT_TIMEOUT,
    T.HOLD_TIMEOUT: CloseReason.HOLD_TIMEOUT,
    T.CLOSE_REQUESTED: CloseReason.REQUESTED,
    T.FATAL_ERROR: CloseReason.ERROR,
}


class InvalidTransition(ValueError):
    """A trigger arrived in a state where it has no meaning (e.g. speech end while silent)."""

    def __init__(self, state: SessionState, trigger: Trigger) -> None:
        super().__init__(f"trigger {trigger.value} is not valid in state {state.value}")
        self.state = state
        self.trigger = trigger


def apply_trigger(state: SessionState, trigger: Trigger) -> SessionState | None:
    """The state `trigger` leads to from `state`; None when it is ignored there.

    Raises `InvalidTransition` for any pair that is neither in the table nor ignored.
    """
    new = TRANSITIONS.get((state, trigger))
    if new is not None:
        return new
    if (state, trigger) in IGNORED:
        return None
    raise InvalidTransition(state, trigger)
