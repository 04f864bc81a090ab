"""What a recognizer says about the audio it heard, as the session reads it.

The engines produce these (`engines.base` re-exports them); the session turns them into
partials and finals (`session.transcripts`). They live here so the pure session core imports
nothing from the engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Architecture(StrEnum):
    ENCODER_DECODER = "encoder-decoder"
    CTC = "ctc"


@dataclass(frozen=True, slots=True)
class Word:
    start: float  # seconds from the start of the audio given to the engine
    end: float
    word: str
    probability: float


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """What a stream knows after the audio it has been fed so far."""

    text: str
    words: tuple[Word, ...] = ()
    # True only for a finalized segment (after `finish`); partials are False.
    is_final: bool = False
    language: str | None = None  # what the engine decoded in (detected when not given)
