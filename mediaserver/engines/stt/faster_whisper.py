"""faster-whisper (CTranslate2 Whisper): the encoder-decoder engine.

Partials come from re-decoding the growing utterance (the runtime applies LocalAgreement to
them); hot words go in through faster-whisper's `hotwords` prompt, context through
`initial_prompt`. VAD is the runtime's job, so faster-whisper's own VAD filter stays off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
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
from mediaserver.engines.loading import SAMPLE_RATE, check_audio, require_files
from mediaserver.engines.stt.whisper_settings import (
    WhisperSettings,
    capped_temperature,
    looks_hallucinated,
)
from mediaserver.engines.stt.whisper_text import SegmentTexts, TokenBytes

REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
_WINDOW_SECONDS = 30.0  # Whisper's receptive field; batched decoding clips the file into these
# Tokens a live utterance may decode to: speech runs at < 8 tokens a second in any language we
# serve, so this is 2-3x the need. Without it, a short segment whose language was detected
# wrong (pt heard as it/la/th) decodes to a repetition loop of up to 448 tokens at each of the
# six fallback temperatures: minutes of work, a final that never comes in time.
_STREAM_TOKENS_BASE = 16
_STREAM_TOKENS_PER_SECOND = 12
# ... and never so many that the prompt (hot words: up to 223 tokens) overflows the 448 window.
_STREAM_TOKENS_MAX = 200


class FasterWhisperEngine:
    architecture = Architecture.ENCODER_DECODER
    capabilities = Capabilities(
        hot_words=True,
        initial_prompt=True,
        translation=True,
        language_detection=True,
        word_timestamps=True,
        native_partials=False,
    )

    def __init__(self) -> None:
        self._model: Any = None
        self._batched: Any = None
        self._info: ModelInfo | None = None
        self._settings = WhisperSettings()
        self._token_bytes: TokenBytes | None = None
        self.whole_window_redecodes = 0  # live finals decoded again on 30 s (see whisper_context)

    def load(self, model: ModelInfo) -> None:
        settings = WhisperSettings.from_config(model.config)
        require_files(model.path, *REQUIRED_FILES)
        if not any((model.path / name).is_file() for name in ("vocabulary.json", "vocabulary.txt")):
            raise ModelLoadError(f"model directory {model.path} has no vocabulary.json")
        from faster_whisper import BatchedInferencePipeline

        from mediaserver.engines.stt.whisper_context import ContextWhisperModel

        try:
            whisper = ContextWhisperModel(
                str(model.path),
                device=settings.device,
                compute_type=settings.compute_type,
                cpu_threads=model.threads,
                local_files_only=True,
            )
        except Exception as exc:  # CTranslate2 raises plain RuntimeError/ValueError on bad files
            raise ModelLoadError(f"cannot load Whisper model from {model.path}: {exc}") from exc
        self._model = whisper
        self._batched = BatchedInferencePipeline(whisper)
        self._token_bytes = TokenBytes(whisper.hf_tokenizer)
        self._info = model
        self._settings = settings

    @property
    def supported_languages(self) -> tuple[str, ...]:
        return tuple(self._loaded().supported_languages)

    def transcribe_file(
        self,
        audio: Audio,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        check_audio(audio)
        self._check_options(options)
        duration = len(audio) / SAMPLE_RATE
        segments, info = self._decode(audio, options, partial=False)
        kept: list[Segment] = []
        for raw, text in self._texts(segments):
            segment = _segment(len(kept), raw, duration, text)
            if progress is not None:
                progress(min(segment.end, duration), duration)
            if not looks_hallucinated(segment, self._settings) and segment.text:
                kept.append(segment)
        if progress is not None:
            progress(duration, duration)
        return Transcript(
            text=" ".join(segment.text for segment in kept),
            language=info.language,
            duration=duration,
            segments=tuple(kept),
            language_probability=float(info.language_probability),
        )

    def open_stream(self, options: TranscribeOptions) -> WhisperStream:
        self._check_options(options)
        return WhisperStream(self, options, self._settings.stream_redecode_seconds)

    def unload(self) -> None:
        self._model = None
        self._batched = None
        self._info = None
        gc.collect()  # CTranslate2 frees the weights when the last reference goes

    def health(self) -> Mapping[str, Any]:
        return {
            "engine": "faster-whisper",
            "loaded": self._model is not None,
            "model": self._info.name if self._info else None,
            "device": self._settings.device,
            "compute_type": self._settings.compute_type,
        }

    def hypothesis(
        self, audio: Audio, options: TranscribeOptions, *, final: bool, hurried: bool = False
    ) -> Hypothesis:
        """Decode one whole utterance (used by `WhisperStream`); `hurried`: greedy search,
        for a final decoded while others wait."""
        if hurried:
            options = replace(options, beam_size=1)
        duration = len(audio) / SAMPLE_RATE
        budget = min(
            _STREAM_TOKENS_BASE + int(_STREAM_TOKENS_PER_SECOND * duration), _STREAM_TOKENS_MAX
        )
        if options.language is None:
            # Detected on a short telephony segment, the language is often wrong (pt heard as
            # it, la, th); every decode in the wrong one scores below the log-prob threshold,
            # so the fallback ladder runs all six temperatures for nothing: 6x the cost of a
            # final that will not improve. One pass: the final comes as fast as a partial.
            options = replace(options, temperature=0.0)
        segments, language = self._utterance_segments(
            audio, options, final=final, max_new_tokens=budget
        )
        converted = [
            _segment(i, raw, duration, text) for i, (raw, text) in enumerate(self._texts(segments))
        ]
        kept = [s for s in converted if s.text and not looks_hallucinated(s, self._settings)]
        words = tuple(word for segment in kept for word in segment.words)
        return Hypothesis(" ".join(s.text for s in kept), words, is_final=final, language=language)

    def _utterance_segments(
        self, audio: Audio, options: TranscribeOptions, *, final: bool, max_new_tokens: int
    ) -> tuple[list[Any], str | None]:
        """faster-whisper's segments of one live utterance and its language: first on a short
        window, at the first temperature; a final that looks troubled there is decoded again
        on 30 s (with the fallback ladder), a partial caught in a repetition loop is dropped
        (the next one is ~0.5 s away)."""
        from mediaserver.engines.stt.whisper_context import context_frames, troubled

        settings = self._settings
        frames = context_frames(len(audio), settings.live_context_seconds, SAMPLE_RATE)
        if frames is not None:
            first = options.temperature
            first = first[0] if isinstance(first, tuple) and first else first
            with self._loaded().context(frames):
                short, info = self._decode(
                    audio,
                    replace(options, temperature=first),
                    partial=not final,
                    max_new_tokens=max_new_tokens,
                )
                segments = list(short)  # decoded lazily: inside the context
            if not final:
                # Unsure words are common a moment into a word and the next partial settles
                # them; only a repetition loop (the short window's failure) is dropped.
                looping = segments and troubled(
                    segments,
                    no_speech_threshold=None,
                    log_prob_threshold=None,
                    compression_ratio_threshold=settings.compression_ratio_threshold,
                )
                return ([] if looping else segments), info.language
            if not troubled(
                segments,
                no_speech_threshold=settings.no_speech_threshold,
                log_prob_threshold=settings.log_prob_threshold,
                compression_ratio_threshold=settings.compression_ratio_threshold,
            ):
                return segments, info.language
            self.whole_window_redecodes += 1
        full, info = self._decode(audio, options, partial=not final, max_new_tokens=max_new_tokens)
        return list(full), info.language

    def _texts(self, segments: Iterable[Any]) -> Iterator[tuple[Any, str]]:
        """Each segment with its text re-detokenised as valid UTF-8 (see `whisper_text`)."""
        if self._token_bytes is None:
            raise RuntimeError("no model loaded: call load() first")
        texts = SegmentTexts(self._token_bytes)
        for raw in segments:
            yield raw, texts(raw.tokens)

    def _loaded(self) -> Any:
        if self._model is None:
            raise RuntimeError("no model loaded: call load() first")
        return self._model

    def _check_options(self, options: TranscribeOptions) -> None:
        languages = self._loaded().supported_languages
        if options.language is not None and options.language not in languages:
            raise ValueError(f"language {options.language!r} is not one this model knows")
        if options.task not in ("transcribe", "translate"):
            raise ValueError(f"task must be 'transcribe' or 'translate', got {options.task!r}")
        if options.beam_size < 1 or options.batch_size < 1:
            raise ValueError("beam_size and batch_size must be >= 1")

    def _decode(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        partial: bool,
        max_new_tokens: int | None = None,
    ) -> Any:
        settings = self._settings
        kwargs: dict[str, Any] = {
            "language": options.language,
            "task": options.task,
            # Partials are redone every half second and replaced: greedy search is enough
            # for them, and with beam 5 the decoder costs about three times as much.
            "beam_size": 1 if partial else options.beam_size,
            "word_timestamps": options.word_timestamps,
            "initial_prompt": options.prompt or None,
            "hotwords": ", ".join(options.hot_words) or None,
            "vad_filter": False,
            "no_speech_threshold": settings.no_speech_threshold,
            "compression_ratio_threshold": settings.compression_ratio_threshold,
            "log_prob_threshold": settings.log_prob_threshold,
            # Partials are redone every half second: one greedy-ish pass, no fallback ladder.
            "temperature": 0.0
            if partial
            else capped_temperature(options.temperature, settings.temperature_fallbacks),
            "condition_on_previous_text": settings.condition_on_previous_text and not partial,
            "max_new_tokens": max_new_tokens,
        }
        model = self._loaded()
        if options.batched and not partial:
            # Clips cut in pauses by the runtime's VAD; fixed windows would cut through words.
            clips = [{"start": s, "end": e} for s, e in options.clips] or _windows(
                len(audio) / SAMPLE_RATE
            )
            # On CPU a batch of 2 windows decoded as fast as 8 (base model, 300 s file: 25.1 and
            # 33.6 s against 30.2 and 27.2 s back to back) and progress then moves every 2
            # windows, not every 8 (4 minutes of speech); GPUs want the whole batch.
            batch = options.batch_size if settings.device == "cuda" else min(options.batch_size, 2)
            segments, info = self._batched.transcribe(
                audio, batch_size=batch, clip_timestamps=clips, **kwargs
            )
        else:
            segments, info = model.transcribe(audio, **kwargs)
        return segments, info


class WhisperStream:
    """Buffers one utterance; re-decodes it when enough new audio has arrived.

    Every re-decode covers the whole utterance, so its cost grows with the utterance: the
    runtime bounds that by committing at speech end or at its maximum segment length.
    """

    def __init__(self, engine: FasterWhisperEngine, options: TranscribeOptions, step: float):
        self._engine = engine
        self._options = options
        self._step_samples = int(step * SAMPLE_RATE)
        self._chunks: list[Audio] = []
        self._samples = 0
        self._decoded_samples = 0
        self._last = Hypothesis("")
        self._finished = False

    def accept(self, audio: Audio) -> Hypothesis:
        return self.redecode() if self.append(audio) else self._last

    def append(self, audio: Audio) -> bool:
        check_audio(audio)
        if self._finished:
            raise ValueError("stream already finished")
        self._chunks.append(audio)
        self._samples += len(audio)
        return self._samples - self._decoded_samples >= max(self._step_samples, 1)

    def redecode(self) -> Hypothesis:
        if self._finished:
            raise ValueError("stream already finished")
        samples = self._samples  # audio appended while decoding waits for the next re-decode
        self._last = self._engine.hypothesis(self._audio(), self._options, final=False)
        self._decoded_samples = samples
        return self._last

    def last(self) -> Hypothesis:
        return self._last

    def finish(self, hurried: bool = False) -> Hypothesis:
        if self._finished:
            raise ValueError("stream already finished")
        self._finished = True
        if self._samples == 0:
            return Hypothesis("", is_final=True)
        if hurried:
            return self._engine.hypothesis(self._audio(), self._options, final=True, hurried=True)
        return self._engine.hypothesis(self._audio(), self._options, final=True)

    def finish_hurried(self) -> Hypothesis:
        return self.finish(hurried=True)

    def _audio(self) -> Audio:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0]


def _windows(duration: float) -> list[dict[str, float]]:
    """Consecutive 30 s clips covering the file (batched decoding needs explicit clips)."""
    starts = np.arange(0.0, max(duration, 1e-3), _WINDOW_SECONDS)
    return [{"start": float(s), "end": float(min(s + _WINDOW_SECONDS, duration))} for s in starts]


def _segment(index: int, raw: Any, duration: float, text: str) -> Segment:
    """faster-whisper's segment -> ours, with times clamped to the audio actually given."""

    def clamp(t: float) -> float:
        return float(min(max(t, 0.0), duration))

    words: Iterable[Any] = raw.words or ()
    return Segment(
        id=index,
        start=clamp(raw.start),
        end=clamp(raw.end),
        text=text.strip(),
        avg_logprob=float(raw.avg_logprob),
        no_speech_prob=float(raw.no_speech_prob),
        compression_ratio=float(raw.compression_ratio),
        temperature=float(raw.temperature or 0.0),
        tokens=tuple(raw.tokens),
        words=tuple(
            Word(clamp(w.start), clamp(w.end), word, float(w.probability))
            for w in words
            if (word := w.word.replace("\ufffd", "").strip())
        ),
    )
