"""`CallCore`: one call's media core, composed and pure (no asyncio, no clock, no I/O).

    feed(pcm at source rate) -> Preprocessor (16 kHz, DC, gain, [denoise])
        -> Session.push_audio (ring buffer, state) -> VadStream.feed (pre-filter, queued chunks)
    [the shell runs one VadBatcher over every call with queued chunks]
    vad_done() -> VadStream.events() -> Session.push_vad -> events and engine commands

Every method takes `now` (the shell's monotonic clock, seconds) and returns a `CallOutput`:
the contract events to publish (dicts, see `call_events`) and, in order, the commands for the
engine side: `StreamAudio` (>= 100 ms of an utterance still being spoken, never 20 ms frames)
and `FinishSegment` (the rest of a committed span; the shell finishes the stream, publishes the
final, and calls `ack`).

The engine side keeps at most one open stream per call: the one for the speech going on. A
`StreamAudio` names its utterance by its first sample; a `FinishSegment` either continues that
stream (`fresh=False`: its audio is what the stream has not yet been given) or carries the whole
span (`fresh=True`: any open stream is abandoned), which is how spans cut or moved by the
session (overrun, a start and its end decided in one VAD batch) stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

from mediaserver.audio.pcm import Pcm16, check_pcm16
from mediaserver.audio.pipeline import Preprocessor
from mediaserver.audio.silero import SILERO_CHUNK
from mediaserver.audio.vad import VadBatcher, VadStream, ms_to_samples
from mediaserver.session.call_events import EventDict, dtmf, error, finals_lost, from_session
from mediaserver.session.call_options import CallOptions
from mediaserver.session.events import (
    SAMPLES_PER_MS,
    Closed,
    CommitSegment,
    Event,
    sample_to_ms,
)
from mediaserver.session.session import Session
from mediaserver.session.states import SessionState

# Audio goes to the engine in chunks of at least this much (process boundary: batch it).
MIN_CHUNK_SAMPLES: Final = 1_600  # 100 ms at 16 kHz
# Speech longer than this is cut into several segments: an encoder-decoder re-decodes the
# whole utterance for each partial, so its cost grows with the length (Whisper's window: 30 s).
MAX_SEGMENT_SAMPLES: Final = 25 * 16_000
DTMF_DIGITS: Final = frozenset("0123456789*#ABCD")


@dataclass(frozen=True, slots=True)
class StreamAudio:
    """More audio of the utterance starting at `utterance` (its next id: `segment_id`)."""

    segment_id: int
    utterance: int
    start: int  # sample position of pcm[0]
    pcm: Pcm16

    @property
    def end(self) -> int:
        return self.start + len(self.pcm)


@dataclass(frozen=True, slots=True)
class FinishSegment:
    """Finish `segment`: feed `pcm` (starting at sample `start`), take the final, then ack."""

    segment: CommitSegment
    start: int
    pcm: Pcm16
    fresh: bool  # True: open a new stream for the whole span (abandon any open one)


@dataclass(frozen=True, slots=True)
class SpeculateFinal:
    """Speech may be ending: decode `pcm` (the utterance from `utterance` to `end`) as a
    final now. If the segment is then committed with exactly this span, its final is this
    decode; a newer speculation or `DropSpeculation` replaces it."""

    utterance: int
    end: int
    pcm: Pcm16


@dataclass(frozen=True, slots=True)
class DropSpeculation:
    """Speech resumed: the speculative final of `utterance` will not be used."""

    utterance: int


EngineCommand = StreamAudio | FinishSegment
Speculation = SpeculateFinal | DropSpeculation


@dataclass(slots=True)
class CallOutput:
    events: list[EventDict] = field(default_factory=list)
    commands: list[EngineCommand | Speculation] = field(default_factory=list)

    def extend(self, other: CallOutput) -> None:
        self.events.extend(other.events)
        self.commands.extend(other.commands)


class CallCore:
    """See the module docstring. Bad input raises ValueError and changes nothing."""

    def __init__(self, call_id: str, options: CallOptions, now: float) -> None:
        self.call_id = call_id
        self.options = options
        self.session = Session(call_id, options.session, now)
        self.vad = VadStream(options.vad)
        self._pre: Preprocessor | None = None
        self._issued = 0  # segments committed so far (ids are consecutive from 1)
        self._stream: tuple[int, int] | None = None  # (utterance start, samples sent up to)
        self._speculated: tuple[int, int] | None = None  # (utterance, end) of the speculation
        self._pad = ms_to_samples(options.vad.speech_pad_ms)
        self.close_reason: str | None = None

    # -- views -----------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self.session.state

    @property
    def audio_ms(self) -> int:
        return sample_to_ms(self.session.audio_position)

    def next_deadline(self) -> float | None:
        return self.session.next_deadline()

    def read(self, start: int, end: int) -> Pcm16:
        return self.session.read(start, end)

    # -- inputs ----------------------------------------------------------------------------

    def feed(self, pcm: Pcm16, sample_rate: int, now: float) -> CallOutput:
        """PCM16 mono at `sample_rate` from the transport; call `vad_done` after the batcher."""
        check_pcm16(pcm)
        out = CallOutput()
        pre = self._pre
        if pre is None or pre.input_rate != sample_rate:
            # A new rate (first frame, or a renegotiated codec): a new front end; the old
            # one's held-back audio still belongs to the timeline.
            # Blocks of VAD chunks: the stages after resampling run once per chunk.
            old, pre = pre, Preprocessor(sample_rate, self.options.audio, block=SILERO_CHUNK)
            self._pre = pre
            if old is not None:
                out.extend(self._push(old.flush(), now))
                old.close()
        out.extend(self._push(pre.process(pcm), now))
        return out

    def vad_done(self, now: float) -> CallOutput:
        """Apply the VAD decisions made since the last call (after the batcher ran)."""
        out = CallOutput()
        self._apply(self.session.push_vad(self.vad.events(), now), now, out)
        return out

    def tick(self, now: float) -> CallOutput:
        out = CallOutput()
        self._apply(self.session.tick(now), now, out)
        return out

    def dtmf(self, digit: str, now: float) -> CallOutput:
        if digit not in DTMF_DIGITS:
            raise ValueError(f"not a DTMF digit: {digit!r} (expected one of 0-9 * # A-D)")
        out = CallOutput()
        self._apply(self.session.tick(now), now, out)
        if self.session.state is not SessionState.CLOSED:  # nothing follows session.closed
            out.events.append(dtmf(self.call_id, digit, self.audio_ms))
        return out

    def playback(self, playing: bool, now: float) -> CallOutput:
        """The call started (True) or stopped (False) speaking to the caller: while it
        speaks the caller is listening, so the silence timer waits (see `Session`)."""
        out = CallOutput()
        session = self.session
        events = session.playback_started(now) if playing else session.playback_ended(now)
        self._apply(events, now, out)
        return out

    def commit(self, now: float) -> CallOutput:
        """Force-commit the speech heard so far (a no-op unless speech is going on)."""
        out = CallOutput()
        self._apply(self.session.force_commit(now), now, out)
        return out

    def close(self, now: float, batcher: VadBatcher, reason: str | None = None) -> CallOutput:
        """Flush the audio still held by the front end and the VAD, then close gracefully:
        open speech is committed and CLOSED follows once its final is acked (or times out)."""
        out = CallOutput()
        if self.session.state in (SessionState.CLOSING, SessionState.CLOSED):
            return out
        self.close_reason = reason
        if self._pre is not None:
            out.extend(self._push(self._pre.flush(), now))
        batcher.run((self.vad,))
        events = self.vad.events() + self.vad.flush()
        self._apply(self.session.push_vad(events, now), now, out)
        self._apply(self.session.request_close(now), now, out)
        return out

    def fail(self, now: float, code: str) -> CallOutput:
        """An unrecoverable error: CLOSED at once. `code` is ours, never user content."""
        out = CallOutput()
        self._apply(self.session.fail(now, code), now, out)
        return out

    def ack(self, segment_id: int, now: float) -> CallOutput:
        """The final of `segment_id` was published."""
        out = CallOutput()
        self._apply(self.session.ack_commit(segment_id, now), now, out)
        return out

    def recover(self) -> list[FinishSegment]:
        """After an engine failure: every segment still awaiting its final, whole, in order.
        The open speech (if any) is streamed again from its start on the next audio."""
        self._stream = None
        return [
            FinishSegment(seg, seg.start_sample, self.read(seg.start_sample, seg.end_sample), True)
            for seg in self.session.recover()
        ]

    def release(self) -> None:
        """Free native state (the denoiser) and the ring buffer's memory; the core is unusable
        afterwards."""
        if self._pre is not None:
            self._pre.close()
            self._pre = None
        self.session.ring.release()

    # -- internals -------------------------------------------------------------------------

    def _push(self, pcm16k: Pcm16, now: float) -> CallOutput:
        out = CallOutput()
        if len(pcm16k) == 0:
            self._apply(self.session.tick(now), now, out)
            return out
        accepted = self.session.state not in (SessionState.CLOSING, SessionState.CLOSED)
        self._apply(self.session.push_audio(pcm16k, now), now, out)
        if accepted and self.session.state is not SessionState.CLOSED:
            # The VAD sees exactly the audio the ring buffer holds: one timeline.
            self.vad.feed(pcm16k)
        return out

    def _apply(self, items: list[Event], now: float, out: CallOutput) -> None:
        for item in items:
            if isinstance(item, CommitSegment):
                self._finish(item, out)
                continue
            if isinstance(item, Closed):  # never silently: each missing final is named
                out.events.extend(finals_lost(self.call_id, item))
            event = from_session(self.call_id, item, self.close_reason)
            if event is not None:
                out.events.append(event)
        self._pump(now, out)

    def _finish(self, segment: CommitSegment, out: CallOutput) -> None:
        self._issued = segment.segment_id
        self._speculated = None
        start, end = segment.start_sample, segment.end_sample
        stream, self._stream = self._stream, None
        # The VAD confirms an end after `min_silence_ms` of silence: a stream holding more than
        # that past `end` got audio faster than the VAD decided (a burst): the next utterance
        # may be in it, so the segment is transcribed fresh, from its own span.
        tail_limit = end + self.options.vad.min_silence_ms * SAMPLES_PER_MS
        if stream is not None and stream[0] == start and stream[1] <= tail_limit:
            # The stream may already hold audio past `end`: the VAD ends speech at the start
            # of the silence that confirmed it (plus padding), after that silence was sent.
            # That tail is silence by the VAD's own account; the final keeps the span's times.
            sent = stream[1]
            tail = self.read(sent, end) if sent < end else np.zeros(0, np.int16)
            out.commands.append(FinishSegment(segment, min(sent, end), tail, False))
        else:
            out.commands.append(FinishSegment(segment, start, self.read(start, end), True))

    def _pump(self, now: float, out: CallOutput) -> None:
        """Stream the open speech to the engine in >= 100 ms chunks; cut overlong speech."""
        start = self.session.speech_start
        if start is None:
            return
        written = self.session.audio_position
        if written - start >= MAX_SEGMENT_SAMPLES:
            self._apply(self.session.force_commit(now), now, out)
            return
        if self._stream is None or self._stream[0] != start:
            self._stream = (start, start)
        sent = self._stream[1]
        # While the VAD hears a silence that may end the speech, audio waits: if it does end,
        # the audio goes with the final (no partial decode of silence ahead of it); if speech
        # resumes, the next chunk carries it.
        if written - sent >= MIN_CHUNK_SAMPLES and self.vad.silence_start is None:
            out.commands.append(
                StreamAudio(self._issued + 1, start, sent, self.read(sent, written))
            )
            self._stream = (start, written)
        self._speculate(start, written, out)

    def _speculate(self, start: int, written: int, out: CallOutput) -> None:
        """Start the final's decode once the silence that may end the speech has lasted
        `speech_pad_ms`: the span is then known exactly (speech ends at silence + pad), and
        the rest of `min_silence_ms` is time the decode runs ahead of the speech_end."""
        silence = self.vad.silence_start
        if silence is None or silence <= start:
            if self._speculated is not None and self._speculated[0] == start:
                self._speculated = None  # speech resumed
                out.commands.append(DropSpeculation(start))
            return
        end = silence + self._pad
        if self._speculated == (start, end) or min(self.vad.decided, written) < end:
            return
        self._speculated = (start, end)
        out.commands.append(SpeculateFinal(start, end, self.read(start, end)))


def error_output(call_id: str, code: str, message: str, *, recoverable: bool) -> CallOutput:
    return CallOutput(events=[error(call_id, code, message, recoverable=recoverable)])


def pcm_from_bytes(data: bytes) -> Pcm16:
    """Little-endian PCM16 bytes as int16 samples (a copy: transports reuse their buffers)."""
    if len(data) % 2:
        raise ValueError(f"PCM16 needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)
