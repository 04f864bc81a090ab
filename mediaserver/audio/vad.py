"""Voice activity detection: an energy pre-filter, Silero VAD batched across calls, hysteresis.

Two phases, so one inference serves many calls:

1. Each call owns a `VadStream`. `feed(pcm16k)` cuts the audio into 32 ms chunks (512 samples)
   and runs the pre-filter on each; chunks that are clearly silent are decided at once, the
   others wait for the network.
2. A `VadBatcher` gathers the first waiting chunk of every stream that has one into a single
   `SileroModel.infer` call, hands back each probability and recurrent state, and repeats until
   no stream waits. Streams need not be in step: only those with a waiting chunk join a batch.
   Afterwards `stream.events()` returns the `SpeechStart` / `SpeechEnd` events produced.

`Vad` wraps both for a single stream.

Pre-filter: a chunk is clear silence when its RMS is below the sensitivity's level AND either its
spectrum over 300-3000 Hz is flat like noise (that band survives every source: PSTN
high-passes at 300 Hz and resamplers roll off below 4 kHz in 8 kHz audio),
or it is 20 dB below that level. Quiet speech is not flat, so whispers still reach the network.

Recurrent state across skipped chunks: the network's state is left as it was for short gaps
(a pause inside a sentence must not make the model start over), and reset to zeros once
`STATE_RESET_S` of silence has been skipped, so a new utterance after a long silence is judged
like the start of a stream rather than with memory of speech from long ago. The 64-sample
context is always the real preceding audio.

Positions are sample indices in the stream's 16 kHz timeline (0 = first sample fed), with
`speech_pad_ms` applied; a `SpeechEnd` is never placed after the audio decided so far.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Final

import numpy as np

from mediaserver.audio.events import PIPELINE_RATE, SpeechEnd, SpeechStart, VadEvent
from mediaserver.audio.pcm import INT16_FULL_SCALE, Pcm16, check_pcm16
from mediaserver.audio.silero import (
    SILERO_CHUNK,
    SILERO_CONTEXT,
    SILERO_STATE,
    SILERO_WINDOW,
    Floats,
    SileroModel,
    VadModelNotFoundError,
)
from mediaserver.config import Sensitivity, VadSettings

__all__ = [
    "SENSITIVITY",
    "SileroModel",
    "Vad",
    "VadBatcher",
    "VadModelNotFoundError",
    "VadStream",
]

# (speech threshold, pre-filter level in dBFS) per sensitivity, from the architecture document.
SENSITIVITY: Final[dict[Sensitivity, tuple[float, float]]] = {
    "high": (0.3, -50.0),
    "normal": (0.5, -40.0),
    "low": (0.7, -30.0),
}
# Speech ends below threshold - 0.15, as Silero's own iterator does: a dip just under the start
# threshold inside a word does not end the segment.
END_THRESHOLD_MARGIN = 0.15
STATE_RESET_S = 0.3
FLATNESS_SILENT = 0.8
_SCALE = np.float32(1.0 / INT16_FULL_SCALE)
_WINDOW = np.hanning(SILERO_CHUNK).astype(np.float32)
_BAND_BINS = 8  # bins averaged per band, so a noise periodogram reads as flat
_LO_BIN = round(300 * SILERO_CHUNK / PIPELINE_RATE)
_HI_BIN = (
    _LO_BIN + (round(3000 * SILERO_CHUNK / PIPELINE_RATE) - _LO_BIN) // _BAND_BINS * _BAND_BINS
)


def ms_to_samples(ms: float) -> int:
    return round(ms * PIPELINE_RATE / 1000)


class _Hysteresis:
    """Turns per-chunk probabilities into start/end events (pure; positions in samples)."""

    def __init__(self, settings: VadSettings, threshold: float) -> None:
        self.threshold = threshold
        self.end_threshold = max(threshold - END_THRESHOLD_MARGIN, 0.01)
        self.min_speech = ms_to_samples(settings.min_speech_ms)
        self.min_silence = ms_to_samples(settings.min_silence_ms)
        self.pad = ms_to_samples(settings.speech_pad_ms)
        self.speaking = False
        self._candidate = -1  # start of unconfirmed speech, -1 when none
        self._voiced_end = 0  # end of the last chunk at or above the threshold
        self.silence_start = -1  # while speaking: where the current silence began, -1 when none
        self._last_end = 0  # speech never restarts before the previous end

    def update(self, prob: float, start: int, end: int) -> VadEvent | None:
        if self.speaking:
            if prob >= self.threshold:
                self.silence_start = -1
            elif prob < self.end_threshold and self.silence_start < 0:
                self.silence_start = start
            if self.silence_start >= 0 and end - self.silence_start >= self.min_silence:
                return self._end(min(self.silence_start + self.pad, end))
            return None
        if prob >= self.threshold:
            if self._candidate < 0:
                self._candidate = start
            self._voiced_end = end
        elif self._candidate >= 0 and end - self._voiced_end >= self.min_silence:
            self._candidate = -1  # a burst too short to be speech
        if self._candidate >= 0 and self._voiced_end - self._candidate >= self.min_speech:
            self.speaking = True
            self.silence_start = -1
            begin = max(self._candidate - self.pad, self._last_end, 0)
            self._candidate = -1
            return SpeechStart(begin)
        return None

    def finish(self, position: int) -> VadEvent | None:
        """End of stream at `position`: close open speech; drop unconfirmed speech."""
        self._candidate = -1
        if not self.speaking:
            return None
        if self.silence_start >= 0:
            position = min(self.silence_start + self.pad, position)
        return self._end(position)

    def _end(self, position: int) -> SpeechEnd:
        self.speaking = False
        self.silence_start = -1
        self._last_end = position
        return SpeechEnd(position)


class VadStream:
    """The VAD state of one call: buffered audio, pre-filter, recurrent state, hysteresis."""

    def __init__(self, settings: VadSettings | None = None) -> None:
        settings = VadSettings() if settings is None else settings
        if settings.sensitivity not in SENSITIVITY:
            raise ValueError(f"unknown VAD sensitivity {settings.sensitivity!r}")
        threshold, level_dbfs = SENSITIVITY[settings.sensitivity]
        self.settings = settings
        self._hysteresis = _Hysteresis(settings, threshold)
        # Mean-square levels of the pre-filter, on samples in [-1, 1].
        self._quiet_power = 10.0 ** (level_dbfs / 10.0)
        self._silent_power = self._quiet_power / 100.0
        self._reset_after = math.ceil(STATE_RESET_S * PIPELINE_RATE / SILERO_CHUNK)
        self._buf = np.zeros(SILERO_CONTEXT + 8 * SILERO_CHUNK, np.float32)
        self._head = 0  # index in _buf of the context of the first undecided chunk
        self._end = SILERO_CONTEXT  # the first chunk's context is silence, as in Silero
        self._queue: deque[bool] = deque()  # undecided complete chunks: pre-filter says silent?
        self._decided = 0  # samples of the timeline decided so far
        self._fed = 0
        self.state: Floats = np.zeros((2, SILERO_STATE), np.float32)
        self._skipped_run = 0
        self._events: list[VadEvent] = []
        self.inferred_chunks = 0
        self.skipped_chunks = 0

    @property
    def pending(self) -> bool:
        """True when a chunk waits for the network (it is then the first in the queue)."""
        return bool(self._queue)

    @property
    def has_events(self) -> bool:
        """True when `events()` has something to return."""
        return bool(self._events)

    @property
    def speaking(self) -> bool:
        return self._hysteresis.speaking

    @property
    def position(self) -> int:
        """Samples fed so far (the end of the stream's timeline)."""
        return self._fed

    @property
    def decided(self) -> int:
        """Samples of the timeline the VAD has judged so far."""
        return self._decided

    @property
    def silence_start(self) -> int | None:
        """While speaking: where the silence that may end the speech began (None if none).

        Speech ends `min_silence_ms` later unless it resumes; what to do meanwhile (start the
        final's decode early) is the caller's choice.
        """
        h = self._hysteresis
        return h.silence_start if h.speaking and h.silence_start >= 0 else None

    def feed(self, pcm: Pcm16) -> None:
        """Append 16 kHz int16 audio; clearly silent chunks are decided now, others queued.

        Queued chunks stay buffered until a `VadBatcher` runs this stream: run it after feeding.
        """
        n = len(check_pcm16(pcm))
        self._reserve(n)
        np.multiply(pcm, _SCALE, out=self._buf[self._end : self._end + n])
        self._end += n
        self._fed += n
        queued_end = self._head + SILERO_CONTEXT + SILERO_CHUNK * len(self._queue)
        while self._end - queued_end >= SILERO_CHUNK:
            self._queue.append(self._is_silent(self._buf[queued_end : queued_end + SILERO_CHUNK]))
            queued_end += SILERO_CHUNK
        self._skip_silent()

    def window(self) -> Floats:
        """Context + first waiting chunk, as the network wants it (a view; copy it)."""
        return self._buf[self._head : self._head + SILERO_WINDOW]

    def accept(self, prob: float, state: Floats) -> None:
        """Take the network's answer for the chunk returned by `window()`."""
        if not self._queue:
            raise ValueError("no chunk is waiting for a VAD result")
        self.state[...] = state
        self._skipped_run = 0
        self.inferred_chunks += 1
        self._decide(prob)
        self._skip_silent()

    def events(self) -> list[VadEvent]:
        """Events produced since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def flush(self) -> list[VadEvent]:
        """End of stream: close open speech at the end of the audio; returns pending events.

        Call it after the batcher has run: chunks still waiting for the network are dropped.
        """
        self._queue.clear()
        event = self._hysteresis.finish(self._fed)
        if event is not None:
            self._events.append(event)
        return self.events()

    def _decide(self, prob: float) -> None:
        self._queue.popleft()
        start = self._decided
        self._decided += SILERO_CHUNK
        self._head += SILERO_CHUNK
        event = self._hysteresis.update(prob, start, self._decided)
        if event is not None:
            self._events.append(event)

    def _skip_silent(self) -> None:
        while self._queue and self._queue[0]:
            self.skipped_chunks += 1
            self._skipped_run += 1
            if self._skipped_run == self._reset_after:
                self.state.fill(0.0)
            self._decide(0.0)

    def _is_silent(self, chunk: Floats) -> bool:
        power = float(np.dot(chunk, chunk)) / SILERO_CHUNK
        if power >= self._quiet_power:
            return False
        if power < self._silent_power:
            return True
        spectrum = np.abs(np.fft.rfft(chunk * _WINDOW)[_LO_BIN:_HI_BIN]) ** 2
        bands = spectrum.reshape(-1, _BAND_BINS).mean(axis=1) + 1e-20
        flatness = math.exp(float(np.mean(np.log(bands)))) / float(np.mean(bands))
        return flatness > FLATNESS_SILENT

    def _reserve(self, n: int) -> None:
        if self._end + n <= len(self._buf):
            return
        live = self._end - self._head
        if live + n > len(self._buf):
            grown = np.zeros(max(2 * len(self._buf), live + n), np.float32)
            grown[:live] = self._buf[self._head : self._end]
            self._buf = grown
        else:
            self._buf[:live] = self._buf[self._head : self._end]
        self._head, self._end = 0, live


class VadBatcher:
    """Runs the network for many streams, one batched inference per step.

    Batch arrays are allocated once for `max_batch` rows; more streams than that are served in
    several inferences per step.
    """

    def __init__(self, model: SileroModel, *, max_batch: int = 256) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.model = model
        self.max_batch = max_batch
        self._chunks = np.zeros((max_batch, SILERO_WINDOW), np.float32)
        self._states = np.zeros(2 * max_batch * SILERO_STATE, np.float32)

    def run(self, streams: Iterable[VadStream], max_steps: int | None = None) -> int:
        """Decide the waiting chunks of `streams` (at most `max_steps` chunks of each: a
        stream fed far ahead of real time waits for the next run instead of making this one
        long for everyone); returns the number of inferences made."""
        # dict.fromkeys: a stream listed twice must not get two answers for one chunk.
        waiting = [s for s in dict.fromkeys(streams) if s.pending]
        inferences = 0
        steps = 0
        while waiting and (max_steps is None or steps < max_steps):
            steps += 1
            for first in range(0, len(waiting), self.max_batch):
                self._step(waiting[first : first + self.max_batch])
                inferences += 1
            waiting = [s for s in waiting if s.pending]
        return inferences

    def _step(self, group: list[VadStream]) -> None:
        size = len(group)
        chunks = self._chunks[:size]
        # A prefix of the flat buffer is a contiguous [2, size, 128] array: no copy in ORT.
        states = self._states[: 2 * size * SILERO_STATE].reshape(2, size, SILERO_STATE)
        for row, stream in enumerate(group):
            chunks[row] = stream.window()
            states[:, row] = stream.state
        probs, new_states = self.model.infer(chunks, states)
        for row, stream in enumerate(group):
            stream.accept(float(probs[row]), new_states[:, row])


class Vad:
    """Single-stream convenience: `process(pcm16k) -> events`, `flush() -> events`."""

    def __init__(self, model: SileroModel, settings: VadSettings | None = None) -> None:
        self.stream = VadStream(settings)
        self._batcher = VadBatcher(model, max_batch=1)

    def process(self, pcm: Pcm16) -> list[VadEvent]:
        self.stream.feed(pcm)
        self._batcher.run((self.stream,))
        return self.stream.events()

    def flush(self) -> list[VadEvent]:
        return self.stream.flush()
