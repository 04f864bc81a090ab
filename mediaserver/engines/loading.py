"""What every engine shares: reading its model directory and config, checking its audio."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mediaserver.audio.pcm import check_samples
from mediaserver.engines.base import Audio, ModelLoadError

SAMPLE_RATE = 16_000

_T = TypeVar("_T", int, float, bool, str)


def check_audio(audio: Audio) -> Audio:
    """Return `audio` if it is mono float32 PCM; raise ValueError (naming the problem) otherwise."""
    check_samples(audio, "audio")
    if not np.isfinite(audio).all():
        raise ValueError("audio contains NaN or infinite samples")
    return audio


def require_files(directory: Path, *names: str) -> None:
    """Raise ModelLoadError naming the first of `names` missing from the model directory."""
    if not directory.is_dir():
        raise ModelLoadError(f"model directory {directory} does not exist")
    for name in names:
        path = directory / name
        if not path.is_file() or path.stat().st_size == 0:
            raise ModelLoadError(f"model directory {directory} has no {name} (or it is empty)")


def config_value(config: Mapping[str, Any], key: str, default: _T) -> _T:
    """`config[key]` checked against the type of `default` (ints are accepted for floats)."""
    value = config.get(key, default)
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
        raise ModelLoadError(
            f"model config {key!r} must be {expected.__name__}, got {type(value).__name__}"
        )
    return value


def optional_float(config: Mapping[str, Any], key: str, default: float | None) -> float | None:
    """A float setting where `None` (or a missing key with default None) disables the feature."""
    if config.get(key, default) is None:
        return None
    return config_value(config, key, 0.0 if default is None else default)
