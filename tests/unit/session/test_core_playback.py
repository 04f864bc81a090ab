"""The call speaking to the caller holds the silence timer off (time injected, no clock)."""

from __future__ import annotations

import pytest

from mediaserver.audio.events import SpeechEnd, SpeechStart
from mediaserver.config import SessionSettings
from mediaserver.session.events import HoldEntered, StateChanged
from mediaserver.session.session import Session
from mediaserver.session.states import SessionState
from tests.unit.session.test_core import moves, of, push, session_in

S = SessionState


def test_a_45_s_utterance_never_enters_hold_and_silence_after_it_does_30_s_later() -> None:
    s = Session("call-1", SessionSettings(silence_timeout_s=30.0), now=0.0)
    push(s, 2.0, 2.0)  # SILENCE since 2.0: HOLD would come at 32.0
    assert s.next_deadline() == 32.0
    assert s.playback_started(10.0) == []  # re-entry: no StateChanged
    assert s.playing
    assert s.next_deadline() is None
    events = []
    for second in range(11, 55):  # the caller listens in silence for 45 s (10-55)
        events += push(s, 1.0, float(second))
        events += s.tick(float(second) + 0.5)
    assert s.state is S.SILENCE
    assert not of(events, HoldEntered)
    assert not moves(events)
    assert s.playback_ended(55.0) == []
    assert not s.playing
    assert s.next_deadline() == 85.0
    assert s.tick(84.9) == []
    events = s.tick(85.0)
    assert moves(events) == [(S.SILENCE, S.HOLD)]
    assert len(of(events, HoldEntered)) == 1


def test_playback_starting_in_hold_goes_back_to_silence() -> None:
    s, now = session_in(S.HOLD)
    events = s.playback_started(now + 100)
    assert events == [StateChanged(S.HOLD, S.SILENCE, events[0].audio_ms)]
    assert s.next_deadline() is None  # no HOLD timeout (300 s) ending the call mid-sentence
    assert s.tick(now + 10_000) == []
    s.playback_ended(now + 10_000)
    assert s.next_deadline() == now + 10_030


def test_caller_speech_during_playback_then_silence_still_waits_for_the_end() -> None:
    s, now = session_in(S.SILENCE)
    s.playback_started(now)
    s.push_vad([SpeechStart(s.audio_position)], now)  # e.g. barge-in before the cut
    assert s.state is S.ACTIVE
    push(s, 1.0, now + 1)
    s.push_vad([SpeechEnd(s.audio_position)], now + 1)
    assert s.state is S.SILENCE
    assert s.next_deadline() is None
    assert s.tick(now + 100) == []
    s.playback_ended(now + 100)
    assert s.next_deadline() == now + 130


def test_playback_in_init_leaves_the_init_timer_alone() -> None:
    s = Session("call-1", SessionSettings(init_timeout_s=30.0), now=0.0)
    assert s.playback_started(1.0) == []
    assert s.next_deadline() == 30.0  # no media from the caller: still a dead call
    push(s, 0.02, 2.0)  # media arrives while the call plays: SILENCE without a timer
    assert s.state is S.SILENCE
    assert s.next_deadline() is None


@pytest.mark.parametrize("state", [S.CLOSING, S.CLOSED])
def test_playback_while_closing_or_closed_changes_nothing(state: SessionState) -> None:
    s, now = session_in(S.CLOSING)
    if state is S.CLOSED:
        s.tick(now + 20)  # past the closing timeout (15 s)
        now += 20
    assert s.state is state
    deadline = s.next_deadline()
    assert s.playback_started(now + 0.5) == []  # before CLOSING's 2 s timeout
    assert s.playback_ended(now + 0.5) == []
    assert s.state is state
    assert s.next_deadline() == deadline


def test_unpaired_playback_calls_are_refused_and_change_nothing() -> None:
    s, now = session_in(S.SILENCE)
    with pytest.raises(ValueError, match="never started"):
        s.playback_ended(now)
    s.playback_started(now)
    with pytest.raises(ValueError, match="already started"):
        s.playback_started(now + 1)
    assert s.playing
    assert s.state is S.SILENCE
    with pytest.raises(ValueError, match="backwards"):
        s.playback_ended(now - 1)
    assert s.playing
