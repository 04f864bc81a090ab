"""The contract every text-to-speech engine implements (runs inside a worker process).

An engine turns text into mono int16 PCM at its `sample_rate`, streamed clause by clause: the
first chunk leaves as soon as the first clause is synthesized, so a caller hears the start of a
long answer while the rest is still being computed. Text reaches the engine already made
speakable (`mediaserver.domain.speakable`); engines read it as given.

Errors: an unknown voice is an `UnknownVoiceError` (a `ValueError` listing valid voices), empty
text or a speed out of range a plain `ValueError`; all are raised before any audio is produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt

from mediaserver.audio.pcm import Pcm16
from mediaserver.engines.base import ModelInfo

Gender = Literal["female", "male", "unknown"]

MIN_SPEED: Final = 0.5
MAX_SPEED: Final = 2.0


@dataclass(frozen=True, slots=True)
class Voice:
    id: str  # what `synthesize` takes: "pf_dora", "pt-br"
    language: str  # BCP 47: "pt-BR"
    gender: Gender
    engine: str


class UnknownVoiceError(ValueError):
    """A voice was asked for that the loaded engine does not have; the message lists some."""

    def __init__(self, voice: str, known: Iterable[str], engine: str) -> None:
        names = sorted(known)
        shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
        super().__init__(f"unknown {engine} voice {voice!r}; valid voices: {shown or 'none'}")
        self.voice = voice
        self.engine = engine


class TtsEngine(Protocol):
    name: str  # the engine name, as in a model manifest ("kokoro", "espeak-ng")

    @property
    def sample_rate(self) -> int:
        """Rate of the PCM `synthesize` yields (valid after `load`)."""

    @property
    def default_voice(self) -> str:
        """The voice the model's manifest names as its default (valid after `load`)."""

    def load(self, model: ModelInfo) -> None: ...

    def voices(self) -> list[Voice]: ...

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> Iterator[Pcm16]:
        """Yield mono int16 chunks, one or more per clause, in order.

        `voice` "" is the default voice (what an unset protobuf field carries).
        Arguments are checked by the call itself, before any synthesis; abandoning the
        iterator stops synthesis after the current clause.
        """

    def unload(self) -> None: ...

    def health(self) -> Mapping[str, Any]: ...


def check_text(text: str) -> str:
    """`text` stripped; ValueError when it holds nothing to say."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ValueError("text is empty: there is nothing to synthesize")
    return stripped


def check_speed(speed: float) -> float:
    """`speed` (1.0 = the voice's natural rate) if within [MIN_SPEED, MAX_SPEED]."""
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
        raise ValueError(f"speed must be a finite number, got {speed!r}")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}")
    return float(speed)


def float_to_pcm16(audio: npt.NDArray[np.floating[Any]]) -> Pcm16:
    """Float samples in [-1, 1] to int16, clipping what a model overshoots."""
    scaled = np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767.0
    pcm: Pcm16 = np.rint(scaled).astype(np.int16)
    return pcm


class NotLoadedError(RuntimeError):
    """The engine was used before `load` (or after `unload`): a bug in the caller."""

    def __init__(self, engine: str) -> None:
        super().__init__(f"the {engine} engine is not loaded")
