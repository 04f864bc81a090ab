from __future__ import annotations

import itertools
from collections import deque

import pytest

from mediaserver.session.states import (
    CLOSE_REASONS,
    IGNORED,
    TIMEOUTS,
    TRANSITIONS,
    CloseReason,
    InvalidTransition,
    SessionState,
    Trigger,
    apply_trigger,
)

S = SessionState
T = Trigger

# The seed's state machine (architecture doc, 4.6), written out independently of the module.
SPEC = {
    (S.INIT, T.AUDIO): S.SILENCE,
    (S.INIT, T.INIT_TIMEOUT): S.CLOSED,
    (S.ACTIVE, T.SPEECH_END): S.SILENCE,
    (S.SILENCE, T.SPEECH_START): S.ACTIVE,
    (S.SILENCE, T.SILENCE_TIMEOUT): S.HOLD,
    (S.HOLD, T.SPEECH_START): S.ACTIVE,
    (S.HOLD, T.HOLD_TIMEOUT): S.CLOSING,
    # The call speaking to a silent caller: listening, not on hold (SILENCE re-entered).
    (S.SILENCE, T.PLAYBACK_START): S.SILENCE,
    (S.SILENCE, T.PLAYBACK_END): S.SILENCE,
    (S.HOLD, T.PLAYBACK_START): S.SILENCE,
    (S.CLOSING, T.FLUSHED): S.CLOSED,
    (S.CLOSING, T.CLOSING_TIMEOUT): S.CLOSED,
    **{(s, T.CLOSE_REQUESTED): S.CLOSING for s in (S.INIT, S.ACTIVE, S.SILENCE, S.HOLD)},
    **{(s, T.FATAL_ERROR): S.CLOSED for s in S if s is not S.CLOSED},
}

ALL_PAIRS = list(itertools.product(S, T))


def test_table_is_exactly_the_spec() -> None:
    assert dict(TRANSITIONS) == SPEC


@pytest.mark.parametrize(("pair", "new"), sorted(SPEC.items()))
def test_every_table_entry_applies(pair: tuple[SessionState, Trigger], new: SessionState) -> None:
    assert apply_trigger(*pair) is new


@pytest.mark.parametrize("pair", sorted(IGNORED))
def test_ignored_triggers_change_nothing(pair: tuple[SessionState, Trigger]) -> None:
    assert apply_trigger(*pair) is None


INVALID = [p for p in ALL_PAIRS if p not in TRANSITIONS and p not in IGNORED]


@pytest.mark.parametrize("pair", INVALID)
def test_every_other_pair_is_invalid(pair: tuple[SessionState, Trigger]) -> None:
    state, trigger = pair
    with pytest.raises(InvalidTransition) as info:
        apply_trigger(state, trigger)
    assert isinstance(info.value, ValueError)
    assert (info.value.state, info.value.trigger) == pair
    assert str(info.value) == f"trigger {trigger.value} is not valid in state {state.value}"


def test_some_invalid_pairs_that_matter() -> None:
    # Speech cannot end when none started, start twice, or move a session that never got audio.
    for pair in [
        (S.SILENCE, T.SPEECH_END),
        (S.HOLD, T.SPEECH_END),
        (S.ACTIVE, T.SPEECH_START),
        (S.INIT, T.SPEECH_START),
        (S.ACTIVE, T.SILENCE_TIMEOUT),
        (S.CLOSED, T.FLUSHED),
        (S.HOLD, T.PLAYBACK_END),  # HOLD is never entered while the call plays
    ]:
        assert pair in INVALID


def test_ignored_and_transitions_are_disjoint() -> None:
    assert not set(TRANSITIONS) & IGNORED


def test_closed_is_terminal() -> None:
    assert not [pair for pair in TRANSITIONS if pair[0] is S.CLOSED]


def test_every_state_reachable_and_every_state_can_close() -> None:
    reached = {S.INIT}
    queue = deque([S.INIT])
    while queue:
        state = queue.popleft()
        for (src, _), dst in TRANSITIONS.items():
            if src is state and dst not in reached:
                reached.add(dst)
                queue.append(dst)
    assert reached == set(S)
    for state in S:
        if state is not S.CLOSED:
            assert apply_trigger(state, T.FATAL_ERROR) is S.CLOSED


def test_each_timer_is_a_valid_trigger_of_its_state() -> None:
    assert set(TIMEOUTS) == {S.INIT, S.SILENCE, S.HOLD, S.CLOSING}
    for state, trigger in TIMEOUTS.items():
        assert (state, trigger) in TRANSITIONS


def test_every_way_out_of_the_live_states_has_a_close_reason() -> None:
    live = {S.INIT, S.ACTIVE, S.SILENCE, S.HOLD}
    leaving = {t for (s, t), new in TRANSITIONS.items() if s in live and new not in live}
    assert leaving == set(CLOSE_REASONS)
    assert set(CLOSE_REASONS.values()) == set(CloseReason)


@pytest.mark.parametrize("state", list(S))
def test_playback_in_every_state(state: SessionState) -> None:
    expected = {
        S.SILENCE: (S.SILENCE, S.SILENCE),
        S.HOLD: (S.SILENCE, None),  # None: invalid (cannot happen), see above
    }.get(state)
    for trigger, index in ((T.PLAYBACK_START, 0), (T.PLAYBACK_END, 1)):
        if expected is None:  # INIT, ACTIVE, CLOSING, CLOSED: no timer it could hold off
            assert (state, trigger) in IGNORED
            assert apply_trigger(state, trigger) is None
        elif expected[index] is None:
            with pytest.raises(InvalidTransition):
                apply_trigger(state, trigger)
        else:
            assert apply_trigger(state, trigger) is expected[index]
