"""Whisper's encoder on less than its 30 s window, for live utterances.

Whisper encodes a 30 s window whatever it is given: a 3 s utterance is padded with 27 s of
silence, and on a CPU that encoder pass is most of the decode (base, int8, 2 threads: 0.74 s
of 0.92 s). CTranslate2's encoder takes shorter inputs and the decoder attends to whatever the
encoder gives it, but Whisper was trained on full windows and needs silence after the speech
to end its text. `python benchmarks/whisper_context.py` (base int8, beam 5, 150 utterances of
1-25 s of real telephony speech):

| window the encoder sees                | WER                         | decode time |
|----------------------------------------|-----------------------------|-------------|
| 30 s (Whisper's own)                   | 4.71 %                      | 128-136 s   |
| utterance + 5 s, at least 20 s         | 4.71 % (the same 90 errors) | 75 s        |
| utterance + 5 s, at least 15 s         | 5.29 %                      | 66 s        |
| utterance + 5 s, at least 10 s         | 6.54 %                      | 58 s        |
| at least 10 s, no silence after 10 s   | 62 % (text runs on)         |             |

A short window also makes Whisper invent text over non-speech more often (a hum, a hiss), so a
short decode that shows a sign of it (`troubled`) is decoded again on the whole window.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from faster_whisper import WhisperModel

FRAMES_PER_SECOND = 100  # Whisper's mel hop: 10 ms
WINDOW_FRAMES = 30 * FRAMES_PER_SECOND
SILENCE_AFTER_FRAMES = 5 * FRAMES_PER_SECOND


def context_frames(samples: int, minimum_s: float, sample_rate: int = 16_000) -> int | None:
    """Mel frames the encoder is given for an utterance of `samples`: the utterance and at
    least 5 s after it, at least `minimum_s` in all; None for the whole window (`minimum_s`
    0 turns this off, and an utterance that needs it all gets it all)."""
    if minimum_s <= 0:
        return None
    content = math.ceil(samples * FRAMES_PER_SECOND / sample_rate)
    frames = max(math.ceil(minimum_s * FRAMES_PER_SECOND), content + SILENCE_AFTER_FRAMES)
    frames += frames % 2  # the encoder's first convolution halves it
    return None if frames >= WINDOW_FRAMES else frames


def troubled(
    segments: Sequence[Any],
    *,
    no_speech_threshold: float | None,
    log_prob_threshold: float | None,
    compression_ratio_threshold: float | None,
) -> bool:
    """Whether a short-window decode looks like one the whole window would do better: no text
    at all, or a segment that repeats itself, is unsure, or is likely not speech."""
    if not segments:
        return True
    for segment in segments:
        if (
            compression_ratio_threshold is not None
            and segment.compression_ratio > compression_ratio_threshold
        ):
            return True
        if log_prob_threshold is not None and segment.avg_logprob < log_prob_threshold:
            return True
        if no_speech_threshold is not None and segment.no_speech_prob > no_speech_threshold:
            return True
    return False


class ContextWhisperModel(WhisperModel):  # type: ignore[misc]  # faster-whisper is untyped
    """A WhisperModel whose encoder is given at most `context(frames)` mel frames, in the
    thread that set it (a worker's batch decodes run beside its live ones, on other threads).

    faster-whisper pads every window to 30 s before encoding; cutting that padding down to
    `frames` is the same as padding the utterance to `frames` in the first place.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    @contextmanager
    def context(self, frames: int | None) -> Iterator[None]:
        previous = getattr(self._local, "frames", None)
        self._local.frames = frames
        try:
            yield
        finally:
            self._local.frames = previous

    def encode(self, features: Any) -> Any:
        frames = getattr(self._local, "frames", None)
        if frames is not None and features.shape[-1] > frames:
            features = features[..., :frames]
        return super().encode(features)
