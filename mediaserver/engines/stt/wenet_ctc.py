"""WeNet CTC models run by sherpa-onnx: the CTC engine with native streaming partials.

A model directory holds `tokens.txt`, `model.onnx` (whole-utterance encoder, used for files)
and `model-streaming.onnx` (chunked encoder with attention/conv caches, used for streams), as
sherpa-onnx's WeNet export writes them. CTC has no prompt, no translation, no language
detection and, in sherpa-onnx, no decode-time hot words (those exist only for transducers):
the runtime corrects hot words after decoding. Word timings come from sherpa-onnx's per-token
timestamps; it reports no per-token probability for offline decoding, so a file's words carry
probability 0.0 (unknown), a stream's the mean of its tokens' probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mediaserver.engines.base import (
    Architecture,
    Audio,
    Capabilities,
    Hypothesis,
    ModelInfo,
    ModelLoadError,
    ProgressCallback,
    Segment,
    TranscribeOptions,
    Transcript,
    Word,
)
from mediaserver.engines.loading import SAMPLE_RATE, check_audio, config_value, require_files

# sherpa-onnx ends the whole process when one of these is missing, so they are checked first.
_OFFLINE_METADATA = ("vocab_size", "subsampling_factor")
_STREAMING_METADATA = (
    "head",
    "num_blocks",
    "output_size",
    "cnn_module_kernel",
    "right_context",
    "subsampling_factor",
    "vocab_size",
)
_TAIL_PADDING_SECONDS = 0.8  # pushes the last partial chunk (+ right context) through


@dataclass(frozen=True, slots=True)
class WenetSettings:
    model: str = "model.onnx"
    streaming_model: str = "model-streaming.onnx"
    tokens: str = "tokens.txt"
    language: str = "und"  # what the model was trained on; CTC cannot detect it
    chunk_size: int = 16  # encoder frames per streaming chunk (x4 subsampling = 640 ms)
    num_left_chunks: int = 4
    window_seconds: float = 20.0  # files are decoded in windows this long

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WenetSettings:
        d = cls()
        settings = cls(
            model=config_value(config, "model", d.model),
            streaming_model=config_value(config, "streaming_model", d.streaming_model),
            tokens=config_value(config, "tokens", d.tokens),
            language=config_value(config, "language", d.language),
            chunk_size=config_value(config, "chunk_size", d.chunk_size),
            num_left_chunks=config_value(config, "num_left_chunks", d.num_left_chunks),
            window_seconds=config_value(config, "window_seconds", d.window_seconds),
        )
        if settings.chunk_size < 1 or settings.num_left_chunks < 0:
            raise ModelLoadError("model config: chunk_size must be >= 1, num_left_chunks >= 0")
        if settings.window_seconds < 1.0:
            raise ModelLoadError("model config: window_seconds must be >= 1")
        return settings


class WenetCtcEngine:
    architecture = Architecture.CTC
    capabilities = Capabilities(
        hot_words=False,
        initial_prompt=False,
        translation=False,
        language_detection=False,
        word_timestamps=True,
        native_partials=True,
    )

    def __init__(self) -> None:
        self._offline: Any = None
        self._online: Any = None
        self._info: ModelInfo | None = None
        self._settings = WenetSettings()

    def load(self, model: ModelInfo) -> None:
        settings = WenetSettings.from_config(model.config)
        require_files(model.path, settings.tokens, settings.model, settings.streaming_model)
        vocab = _count_tokens(model.path / settings.tokens)
        _check_onnx(model.path / settings.model, _OFFLINE_METADATA, vocab)
        _check_onnx(model.path / settings.streaming_model, _STREAMING_METADATA, vocab)
        import sherpa_onnx

        threads = model.threads or 1
        try:
            self._offline = sherpa_onnx.OfflineRecognizer.from_wenet_ctc(
                model=str(model.path / settings.model),
                tokens=str(model.path / settings.tokens),
                num_threads=threads,
            )
            self._online = sherpa_onnx.OnlineRecognizer.from_wenet_ctc(
                tokens=str(model.path / settings.tokens),
                model=str(model.path / settings.streaming_model),
                chunk_size=settings.chunk_size,
                num_left_chunks=settings.num_left_chunks,
                num_threads=threads,
            )
        except Exception as exc:  # sherpa-onnx raises RuntimeError/ValueError on bad configs
            raise ModelLoadError(f"cannot load WeNet model from {model.path}: {exc}") from exc
        self._info = model
        self._settings = settings

    def transcribe_file(
        self,
        audio: Audio,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        check_audio(audio)
        _check_options(options)
        recognizer = self._loaded(self._offline)
        duration = len(audio) / SAMPLE_RATE
        window = int(self._settings.window_seconds * SAMPLE_RATE)
        segments: list[Segment] = []
        for start in range(0, max(len(audio), 1), window):
            stream = recognizer.create_stream()
            stream.accept_waveform(SAMPLE_RATE, audio[start : start + window])
            recognizer.decode_stream(stream)
            offset = start / SAMPLE_RATE
            end = min(start + window, len(audio)) / SAMPLE_RATE
            words = _words(stream.result.tokens, stream.result.timestamps, (), offset, end)
            text = stream.result.text.strip()
            if text:
                segments.append(Segment(len(segments), offset, end, text, words=words))
            if progress is not None:
                progress(end, duration)
        return Transcript(
            text=" ".join(segment.text for segment in segments),
            language=options.language or self._settings.language,
            duration=duration,
            segments=tuple(segments),
        )

    def open_stream(self, options: TranscribeOptions) -> WenetStream:
        _check_options(options)
        return WenetStream(self._loaded(self._online))

    def unload(self) -> None:
        self._offline = None
        self._online = None
        self._info = None

    def health(self) -> Mapping[str, Any]:
        return {
            "engine": "wenet-ctc",
            "loaded": self._offline is not None,
            "model": self._info.name if self._info else None,
            "chunk_size": self._settings.chunk_size,
        }

    def _loaded(self, recognizer: Any) -> Any:
        if recognizer is None:
            raise RuntimeError("no model loaded: call load() first")
        return recognizer


class WenetStream:
    """One utterance through sherpa-onnx's chunked recognizer: a partial after every chunk."""

    def __init__(self, recognizer: Any) -> None:
        self._recognizer = recognizer
        self._stream = recognizer.create_stream()
        self._samples = 0
        self._finished = False

    def accept(self, audio: Audio) -> Hypothesis:
        check_audio(audio)
        if self._finished:
            raise ValueError("stream already finished")
        self._stream.accept_waveform(SAMPLE_RATE, audio)
        self._samples += len(audio)
        return self._decode(final=False)

    def finish(self) -> Hypothesis:
        if self._finished:
            raise ValueError("stream already finished")
        self._finished = True
        tail = np.zeros(int(_TAIL_PADDING_SECONDS * SAMPLE_RATE), dtype=np.float32)
        self._stream.accept_waveform(SAMPLE_RATE, tail)
        self._stream.input_finished()
        return self._decode(final=True)

    def _decode(self, *, final: bool) -> Hypothesis:
        recognizer = self._recognizer
        while recognizer.is_ready(self._stream):
            recognizer.decode_stream(self._stream)
        result = recognizer.get_result_all(self._stream)
        end = self._samples / SAMPLE_RATE
        words = _words(result.tokens, result.timestamps, result.ys_probs, 0.0, end)
        return Hypothesis(result.text.strip(), words, is_final=final)


def _check_options(options: TranscribeOptions) -> None:
    if options.task != "transcribe":
        raise ValueError("this CTC model cannot translate; use task='transcribe'")


def _words(
    tokens: Sequence[str],
    times: Sequence[float],
    log_probs: Sequence[float],
    offset: float,
    end: float,
) -> tuple[Word, ...]:
    """Group sherpa-onnx's tokens into words: a token starting with a space begins a new word.

    A word lasts until the next word starts (the last one until `end`); times are shifted by
    `offset`, the window's place in the file.
    """
    groups: list[tuple[str, float, list[float]]] = []
    for index, token in enumerate(tokens):
        when = offset + float(times[index]) if index < len(times) else offset
        prob = math.exp(log_probs[index]) if index < len(log_probs) else None
        if not groups or token.startswith(" "):
            groups.append((token.strip(), when, []))
        else:
            text, start, probs = groups[-1]
            groups[-1] = (text + token, start, probs)
        if prob is not None:
            groups[-1][2].append(prob)
    words = []
    for index, (text, start, probs) in enumerate(groups):
        stop = groups[index + 1][1] if index + 1 < len(groups) else max(end, start)
        probability = sum(probs) / len(probs) if probs else 0.0
        words.append(Word(start, stop, text, probability))
    return tuple(word for word in words if word.word)


def _count_tokens(path: Path) -> int:
    """Number of entries in tokens.txt (`symbol id` per line); ModelLoadError if malformed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].isdigit():
            raise ModelLoadError(f"{path.name} line {number} is not 'symbol id'")
    return len(lines)


def _check_onnx(path: Path, keys: Sequence[str], vocab: int) -> None:
    """Open the ONNX file and check the metadata sherpa-onnx needs (it exits the process if not)."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ModelLoadError(f"{path.name} is not a loadable ONNX model: {exc}") from exc
    metadata = session.get_modelmeta().custom_metadata_map
    missing = [key for key in keys if key not in metadata]
    if missing:
        raise ModelLoadError(f"{path.name} lacks WeNet metadata {', '.join(missing)}")
    if metadata["vocab_size"] != str(vocab):
        raise ModelLoadError(
            f"{path.name} has vocab_size {metadata['vocab_size']}, tokens.txt {vocab} entries"
        )
