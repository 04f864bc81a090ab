"""The contract every speech-to-text engine implements (runs inside a worker process).

The runtime consults `architecture` in exactly one place (where partials come from:
LocalAgreement on re-decoded windows for encoder-decoder models, native for CTC) and
`capabilities` for hot words, prompts and translation. Nothing else branches on the engine.

Audio crossing this interface is mono float32 in [-1, 1] at 16 kHz.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

# What a recognizer says about the audio it heard: shared with the session, which turns
# hypotheses into partials and finals, and lives there because the session is the pure core.
from mediaserver.session.hypotheses import Architecture as Architecture
from mediaserver.session.hypotheses import Hypothesis as Hypothesis
from mediaserver.session.hypotheses import Word as Word

Audio = npt.NDArray[np.float32]
Task = Literal["transcribe", "translate"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    hot_words: bool = False  # decode-time biasing; otherwise the runtime corrects after decoding
    initial_prompt: bool = False  # cross-segment context through a text prompt
    translation: bool = False
    language_detection: bool = False
    word_timestamps: bool = False
    native_partials: bool = False  # the engine streams its own partial hypotheses


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    temperature: float = 0.0
    tokens: tuple[int, ...] = ()
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str
    duration: float  # seconds of audio transcribed
    segments: tuple[Segment, ...] = ()
    language_probability: float = 0.0


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    language: str | None = None  # None: detect (when capabilities.language_detection)
    task: Task = "transcribe"
    prompt: str | None = None  # initial prompt / cross-segment context
    hot_words: tuple[str, ...] = ()
    temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    word_timestamps: bool = False
    beam_size: int = 5
    # Long files: the engine may batch windows (faster-whisper BatchedInferencePipeline).
    batched: bool = False
    batch_size: int = 8
    # With `batched`: the (start, end) seconds of each window to decode, cut in pauses by the
    # runtime's VAD; empty means consecutive 30 s windows.
    clips: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the engine needs from the model's manifest to load it."""

    name: str
    path: Path
    engine: str
    config: Mapping[str, Any] = field(default_factory=dict)
    threads: int = 0  # 0 = engine default


ProgressCallback = Callable[[float, float], None]  # (seconds done, total seconds)


class SttStream(Protocol):
    """One utterance being transcribed incrementally."""

    def accept(self, audio: Audio) -> Hypothesis:
        """Feed more audio (>= 100 ms); return the current hypothesis for all audio so far."""

    def finish(self) -> Hypothesis:
        """No more audio: return the final hypothesis (`is_final=True`)."""


@runtime_checkable
class RedecodingStream(Protocol):
    """A stream whose partials are whole re-decodes (encoder-decoder models): buffering audio
    is cheap and a re-decode may be skipped, so the worker can schedule the expensive part."""

    def append(self, audio: Audio) -> bool:
        """Buffer more audio; True when enough is new that a re-decode is due."""

    def redecode(self) -> Hypothesis:
        """Decode everything so far (the partial)."""

    def last(self) -> Hypothesis:
        """The latest hypothesis, without decoding."""

    def finish_hurried(self) -> Hypothesis:
        """`finish` with a cheaper search (greedy), when other finals wait for the engine."""


class SttEngine(Protocol):
    architecture: Architecture
    capabilities: Capabilities

    def load(self, model: ModelInfo) -> None: ...

    def transcribe_file(
        self,
        audio: Audio,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript: ...

    def open_stream(self, options: TranscribeOptions) -> SttStream: ...

    def unload(self) -> None: ...

    def health(self) -> Mapping[str, Any]: ...


class ModelNotFoundError(LookupError):
    """A model was asked for that is not installed; the message names the command that fixes it."""

    def __init__(self, name: str, *, suggestion: str | None = None, installed: bool = False):
        """`suggestion`: the name probably meant (`installed` when it needs no pull)."""
        if suggestion is not None and installed:
            message = (
                f"model {name!r} is not installed (did you mean {suggestion!r}? it is "
                f"installed); run `mediaserver pull {name}` (or `mediaserver pull {name} "
                "--from DIR` to import a local copy)"
            )
        elif suggestion is not None:
            message = (
                f"model {name!r} is not installed; did you mean {suggestion!r}? install it with "
                f"`mediaserver pull {suggestion}`"
            )
        else:
            message = (
                f"model {name!r} is not installed; run `mediaserver pull {name}` "
                f"(or `mediaserver pull {name} --from DIR` to import a local copy)"
            )
        super().__init__(message)
        self.name = name
        self.suggestion = suggestion


class InvalidModelNameError(ModelNotFoundError, ValueError):
    """A name no model can have (`../x`, spaces): never installed, and the caller's mistake."""

    def __init__(self, name: str, reason: str) -> None:
        LookupError.__init__(self, reason)
        self.name = name


class ModelLoadError(RuntimeError):
    """The model directory exists but the engine could not load it (corrupt or wrong engine)."""
