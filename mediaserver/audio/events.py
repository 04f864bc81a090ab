"""Types shared by the audio stages and the session core."""

from __future__ import annotations

from dataclasses import dataclass

# Every stage after the transport works at this rate: VAD, ring buffer, engines.
PIPELINE_RATE = 16_000


@dataclass(frozen=True, slots=True)
class SpeechStart:
    """Speech begins at `sample`, a position in the stream's 16 kHz timeline (padding applied)."""

    sample: int


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    """Speech ends at `sample` (exclusive), a position in the stream's 16 kHz timeline."""

    sample: int


VadEvent = SpeechStart | SpeechEnd
