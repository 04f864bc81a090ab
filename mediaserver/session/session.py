"""`Session`: one call's state, audio and commits, with no I/O and no clock.

The async shell feeds it audio (`push_audio`), the batched VAD's decisions (`push_vad`), engine
acknowledgements (`ack_commit`) and control (`force_commit`, `request_close`, `fail`), each with
the current time, and arms `loop.call_at(session.next_deadline(), ...)` to call `tick`. Every
method returns the events it caused, in order (see `mediaserver.session.events`).

Design choices:

- Time is the shell's monotonic clock in seconds. Every input first applies the timeouts already
  due at its `now`, so the outcome does not depend on whether the timer callback ran first. A
  timeout that fires late still dates the next state from the deadline, so a long gap between
  ticks plays out exactly as if each deadline had been met. `now` may never go backwards.
- VAD events must come after the audio they describe has been pushed and in timeline order. A
  batch is checked as a whole before any of it is applied: a bad one raises `ValueError` and
  changes nothing (beyond timeouts that were already due).
- A speech segment is committed on speech end, on `force_commit`, when the ring buffer's
  protected audio reaches `force_commit_ratio` (a `ForceCommit` cut while speech goes on) and
  when the call starts closing. CLOSING waits for the finals of every pending segment and ends
  as soon as they are in (`closing_timeout_s` bounds the wait); with nothing pending it is left
  at once.
- The ring buffer's fence is the oldest audio still needed: the start of the oldest pending
  segment, else the start of the open speech, else (while silent) half a ring behind the newest
  audio, so a VAD that reports a start late still finds its audio. A start older than what is
  protected is moved up to the fence; committed spans never overlap.
- If finals lag a whole ring behind, the oldest pending segments are given up (`AudioOverrun`)
  rather than failing the call: recent audio matters more in a live call.
- Audio and VAD decisions arriving while CLOSING or CLOSED are ignored; once CLOSED every input
  returns no events.
- While the call plays speech to the caller (`playback_started` .. `playback_ended`), SILENCE
  arms no timer: the caller is listening, however long the utterance. The shell reports only
  the two edges (no periodic refresh to forget), and the silence counts from the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mediaserver.audio.events import PIPELINE_RATE, SpeechEnd, SpeechStart, VadEvent
from mediaserver.audio.pcm import Pcm16
from mediaserver.config import SessionSettings
from mediaserver.session.events import (
    AudioOverrun,
    Closed,
    CommitAcked,
    CommitSegment,
    Event,
    ForceCommit,
    HoldEntered,
    SpeechEnded,
    SpeechStarted,
    StateChanged,
    sample_to_ms,
)
from mediaserver.session.ring_buffer import RingBuffer
from mediaserver.session.segments import SegmentLedger
from mediaserver.session.states import (
    CLOSE_REASONS,
    TIMEOUTS,
    CloseReason,
    SessionState,
    Trigger,
    apply_trigger,
)
from mediaserver.session.wal import RecoveryPoint

S = SessionState


class Session:
    """One call's pure core; see the module docstring for the rules it follows."""

    def __init__(self, session_id: str, settings: SessionSettings, now: float) -> None:
        durations = {
            S.INIT: settings.init_timeout_s,
            S.SILENCE: settings.silence_timeout_s,
            S.HOLD: settings.hold_timeout_s,
            S.CLOSING: settings.closing_timeout_s,
        }
        for state, seconds in durations.items():
            if not (math.isfinite(seconds) and seconds >= 0):
                raise ValueError(f"{state.value} timeout must be >= 0 seconds, got {seconds}")
        _check_clock(now)
        self.session_id = session_id
        self._durations = durations
        self._ring = RingBuffer(
            round(settings.ring_buffer_s * PIPELINE_RATE), settings.force_commit_ratio
        )
        self._lookback = self._ring.capacity // 2
        self._ledger = SegmentLedger()
        self._state = S.INIT
        self._entered_at = now
        self._now = now
        self._speech_start: int | None = None  # start of the open speech; set only in ACTIVE
        self._vad_sample = 0  # position of the last VAD decision applied
        self._close_reason: CloseReason | None = None
        self._detail = ""
        self._playing = False  # the call is speaking to the caller

    # -- read-only views -------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def ring(self) -> RingBuffer:
        """The call's audio; the shell reads committed spans from it (never writes)."""
        return self._ring

    def read(self, start: int, end: int) -> Pcm16:
        """A copy of the call's audio in [start, end) (e.g. a `CommitSegment`'s span)."""
        return self._ring.read(start, end)

    @property
    def audio_position(self) -> int:
        """Samples received so far: the current end of the call's timeline."""
        return self._ring.written

    @property
    def speech_start(self) -> int | None:
        """Where the speech not yet committed begins (None unless ACTIVE); after an engine
        crash the shell re-streams audio from here to the new worker."""
        return self._speech_start

    @property
    def pending(self) -> tuple[CommitSegment, ...]:
        return self._ledger.pending

    @property
    def recovery_point(self) -> RecoveryPoint:
        return self._ledger.recovery_point

    @property
    def close_reason(self) -> CloseReason | None:
        return self._close_reason

    @property
    def playing(self) -> bool:
        """Whether the call is speaking to the caller (between the two playback calls)."""
        return self._playing

    def next_deadline(self) -> float | None:
        """When `tick` should run next; None while no timer is armed (ACTIVE, CLOSED, and
        SILENCE while the call plays)."""
        if self._state not in TIMEOUTS or (self._playing and self._state is S.SILENCE):
            return None
        return self._entered_at + self._durations[self._state]

    # -- inputs ----------------------------------------------------------------------------

    def push_audio(self, pcm16k: Pcm16, now: float) -> list[Event]:
        """Append 16 kHz PCM16 audio to the call's timeline."""
        if pcm16k.dtype != np.int16 or pcm16k.ndim != 1:
            raise ValueError(f"audio must be 1-D int16 PCM, got {pcm16k.ndim}-D {pcm16k.dtype}")
        n = len(pcm16k)
        if n > self._ring.capacity:
            raise ValueError(f"audio chunk of {n} samples exceeds the ring buffer")
        out = self._advance(now)
        if n == 0 or self._state in (S.CLOSING, S.CLOSED):
            return out
        if n > self._ring.free:
            self._overrun(n, now, out)
        crossed = self._ring.write(pcm16k)
        self._fire(Trigger.AUDIO, now, out)
        if crossed and self._speech_start is not None:
            self._cut(self._ring.written, out, forced=True)
        self._release()
        return out

    def push_vad(self, events: Sequence[VadEvent], now: float) -> list[Event]:
        """Apply the VAD's decisions (computed outside, batched across calls)."""
        out = self._advance(now)
        applied = self._check_vad(events)
        for event in applied:
            if isinstance(event, SpeechStart):
                self._speech_started(event.sample, now, out)
            else:
                self._speech_ended(event.sample, now, out)
        self._release()
        return out

    def tick(self, now: float) -> list[Event]:
        """Fire the timeouts due at `now`."""
        return self._advance(now)

    def force_commit(self, now: float) -> list[Event]:
        """Commit the speech heard so far without waiting for its end (no-op unless ACTIVE)."""
        out = self._advance(now)
        if self._speech_start is not None:
            self._cut(self._ring.written, out, forced=True)
            self._release()
        return out

    def playback_started(self, now: float) -> list[Event]:
        """The call started speaking to the caller: no SILENCE -> HOLD until it stops.

        Raises ValueError if it is already playing."""
        if self._playing:
            raise ValueError("playback already started")
        out = self._advance(now)
        self._playing = True
        self._fire(Trigger.PLAYBACK_START, now, out)
        return out

    def playback_ended(self, now: float) -> list[Event]:
        """The call stopped speaking: the silence timer starts now. Raises ValueError if it
        was not playing."""
        if not self._playing:
            raise ValueError("playback ended but never started")
        out = self._advance(now)
        self._playing = False
        self._fire(Trigger.PLAYBACK_END, now, out)
        return out

    def request_close(self, now: float) -> list[Event]:
        """Close gracefully: commit open speech, wait for pending finals, then CLOSED."""
        out = self._advance(now)
        self._fire(Trigger.CLOSE_REQUESTED, now, out)
        return out

    def fail(self, now: float, reason: str) -> list[Event]:
        """An unrecoverable error: CLOSED at once. `reason` is a code, never user content."""
        out = self._advance(now)
        if self._state is not S.CLOSED:
            self._detail = reason
        self._fire(Trigger.FATAL_ERROR, now, out)
        return out

    def ack_commit(self, segment_id: int, now: float) -> list[Event]:
        """The engine delivered the final for `segment_id`.

        Returns `CommitAcked` (publish the final) or no event for a duplicate (drop it: that
        segment is already final, or was given up in an overrun, or the call is closed).
        Raises ValueError for a segment that is not the oldest one awaiting its final.
        """
        out = self._advance(now)
        if self._state is S.CLOSED:
            return out
        segment = self._ledger.ack(segment_id, _ms(now))
        if segment is None:
            return out
        out.append(CommitAcked(segment_id, segment.end_sample, segment.end_ms))
        self._release()
        if self._state is S.CLOSING and not self._ledger.pending:
            self._fire(Trigger.FLUSHED, now, out)
        return out

    def recover(self) -> list[CommitSegment]:
        """After an engine crash: every committed segment still awaiting its final, in order,
        with its original id and span (all still protected in the ring buffer). Segments
        already final are not included, so replaying these neither duplicates nor loses one."""
        return list(self._ledger.pending)

    # -- internals -------------------------------------------------------------------------

    def _advance(self, now: float) -> list[Event]:
        _check_clock(now)
        if now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now
        out: list[Event] = []
        deadline = self.next_deadline()
        while deadline is not None and deadline <= now:
            self._fire(TIMEOUTS[self._state], deadline, out)
            deadline = self.next_deadline()
        return out

    def _fire(self, trigger: Trigger, now: float, out: list[Event]) -> None:
        """Apply one trigger through the table; the only place the state changes."""
        old = self._state
        new = apply_trigger(old, trigger)
        if new is None:
            return
        self._entered_at = now
        if new is old:
            return  # re-entry restarts the state's timer; nothing else changes
        self._state = new
        cause = CLOSE_REASONS.get(trigger)
        if cause is not None and (self._close_reason is None or cause is CloseReason.ERROR):
            self._close_reason = cause
        audio_ms = sample_to_ms(self._ring.written)
        out.append(StateChanged(old, new, audio_ms))
        if new is S.HOLD:
            out.append(HoldEntered(audio_ms))
        elif new is S.CLOSING:
            self._flush(now, out)
        elif new is S.CLOSED:
            self._speech_start = None
            unflushed = self._ledger.drop_pending()
            reason = self._close_reason or CloseReason.ERROR
            out.append(Closed(reason, audio_ms, unflushed, self._detail))

    def _flush(self, now: float, out: list[Event]) -> None:
        if self._speech_start is not None:
            self._cut(self._ring.written, out, forced=False)
            self._speech_start = None
        if not self._ledger.pending:
            self._fire(Trigger.FLUSHED, now, out)

    def _check_vad(self, events: Sequence[VadEvent]) -> list[VadEvent]:
        """Validate a whole batch against a copy of the state; the events to apply."""
        state, last, written = self._state, self._vad_sample, self._ring.written
        applied: list[VadEvent] = []
        for event in events:
            if isinstance(event, SpeechStart):
                trigger = Trigger.SPEECH_START
            elif isinstance(event, SpeechEnd):
                trigger = Trigger.SPEECH_END
            else:
                raise ValueError(f"not a VAD event: {type(event).__name__}")
            new = apply_trigger(state, trigger)
            if new is None:
                continue
            if event.sample < last:
                raise ValueError(f"VAD event at sample {event.sample} is before {last}")
            if event.sample > written:
                raise ValueError(
                    f"VAD event at sample {event.sample} is ahead of the audio pushed ({written})"
                )
            state, last = new, event.sample
            applied.append(event)
        return applied

    def _speech_started(self, sample: int, now: float, out: list[Event]) -> None:
        self._vad_sample = sample
        start = max(sample, self._ring.fence, self._ledger.last_end)
        out.append(SpeechStarted(start, sample_to_ms(start)))
        self._fire(Trigger.SPEECH_START, now, out)
        self._speech_start = start

    def _speech_ended(self, sample: int, now: float, out: list[Event]) -> None:
        self._vad_sample = sample
        out.append(SpeechEnded(sample, sample_to_ms(sample)))
        self._fire(Trigger.SPEECH_END, now, out)
        self._cut(sample, out, forced=False)
        self._speech_start = None

    def _cut(self, end: int, out: list[Event], *, forced: bool) -> None:
        """Commit the open speech up to `end`; speech, if still going on, resumes from there."""
        start = self._speech_start
        if start is None or end <= start:
            return
        if forced:
            out.append(ForceCommit(end, sample_to_ms(end)))
        out.append(self._ledger.issue(start, end))
        self._speech_start = end

    def _release(self) -> None:
        """Move the fence up to the oldest audio a segment may still need."""
        ring = self._ring
        needed = max(self._vad_sample, ring.written - self._lookback)
        if self._speech_start is not None:
            needed = min(needed, self._speech_start)
        oldest = self._ledger.oldest_start
        if oldest is not None:
            needed = min(needed, oldest)
        if needed > ring.fence:
            ring.commit(needed)

    def _overrun(self, n: int, now: float, out: list[Event]) -> None:
        """Make room for `n` samples by giving up the oldest protected audio."""
        ring = self._ring
        start = ring.fence
        end = ring.written + n - ring.capacity
        lost = self._ledger.abandon_before(end, _ms(now))
        if self._speech_start is not None and self._speech_start < end:
            self._speech_start = end
        ring.commit(end)
        out.append(AudioOverrun(start, end, lost, sample_to_ms(ring.written)))


def _check_clock(now: float) -> None:
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite number of seconds, got {now}")


def _ms(now: float) -> int:
    return round(now * 1000)
