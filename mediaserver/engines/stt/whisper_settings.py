"""A Whisper model's settings, read from its manifest's `config` table, and the guards they
drive (the temperature ladder's length, the hallucination filter)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mediaserver.engines.base import ModelLoadError, Segment
from mediaserver.engines.loading import config_value, optional_float


@dataclass(frozen=True, slots=True)
class WhisperSettings:
    """Per-model settings read from the manifest's `config` table."""

    device: str = "cpu"
    compute_type: str = "int8"  # default: int8 on CPU, float16 on CUDA
    # Hallucination guards (faster-whisper's own, plus the segment filter below).
    no_speech_threshold: float | None = 0.6
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    condition_on_previous_text: bool = True
    # Temperatures tried after the first when a decode looks like a failure (repetition or low
    # log-probability); each re-decodes the whole window, so a window costs at most 1 + this
    # many decodes. benchmarks/batch.py --ladder (base model, 8 prompts at 0 dB SNR): 0 -> 64 s
    # in all, worst 13 s, WER 60 %; 1 -> 83 s, 14 s, 59 %; 5 (the library's) -> 145 s, 29 s,
    # 58 %. One fallback keeps the worst case near a single decode.
    temperature_fallbacks: int = 1
    # A stream re-decodes only after this much new audio, bounding cost per second of speech.
    stream_redecode_seconds: float = 0.5
    # Live utterances are encoded on a window this long (or the utterance and 5 s), not 30 s:
    # twice as fast at the same accuracy (see whisper_context). 0: always the 30 s window.
    live_context_seconds: float = 20.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WhisperSettings:
        defaults = cls()
        redecode = config_value(config, "stream_redecode_seconds", defaults.stream_redecode_seconds)
        if redecode < 0:
            raise ModelLoadError("model config 'stream_redecode_seconds' must be >= 0")
        context = config_value(config, "live_context_seconds", defaults.live_context_seconds)
        if isinstance(context, bool) or not isinstance(context, int | float) or context < 0:
            raise ModelLoadError("model config 'live_context_seconds' must be a number >= 0")
        device = config_value(config, "device", defaults.device)
        compute_default = "float16" if device == "cuda" else defaults.compute_type
        return cls(
            device=device,
            compute_type=config_value(config, "compute_type", compute_default),
            no_speech_threshold=optional_float(config, "no_speech_threshold", 0.6),
            compression_ratio_threshold=optional_float(config, "compression_ratio_threshold", 2.4),
            log_prob_threshold=optional_float(config, "log_prob_threshold", -1.0),
            condition_on_previous_text=config_value(
                config, "condition_on_previous_text", defaults.condition_on_previous_text
            ),
            stream_redecode_seconds=redecode,
            live_context_seconds=float(context),
            temperature_fallbacks=_fallbacks(config, defaults.temperature_fallbacks),
        )


def _fallbacks(config: Mapping[str, Any], default: int) -> int:
    value = config_value(config, "temperature_fallbacks", default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelLoadError("model config 'temperature_fallbacks' must be an integer >= 0")
    return value


def capped_temperature(
    temperature: float | tuple[float, ...], fallbacks: int
) -> float | tuple[float, ...]:
    """The ladder cut to its first temperature and at most `fallbacks` more."""
    if isinstance(temperature, tuple):
        return temperature[: 1 + fallbacks]
    return temperature


def looks_hallucinated(segment: Segment, settings: WhisperSettings) -> bool:
    """Text Whisper invents over non-speech: "no speech" is likely and the text is unsure."""
    if settings.no_speech_threshold is None or settings.log_prob_threshold is None:
        return False
    return (
        segment.no_speech_prob > settings.no_speech_threshold
        and segment.avg_logprob < settings.log_prob_threshold
    )
