"""Array types and input checks shared by the audio stages.

Inside the pipeline PCM is a 1-D numpy int16 array (mono). Stages that compute in float keep
float32 samples in int16 scale (±32768), so no stage rescales twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Pcm16 = npt.NDArray[np.int16]
Samples = npt.NDArray[np.float32]

INT16_FULL_SCALE = 32768.0


def check_mono(x: object, dtype: npt.DTypeLike, name: str) -> npt.NDArray[Any]:
    """Return `x` unchanged if it is a 1-D array of `dtype`; raise a precise ValueError
    otherwise. The one check every stage that takes mono samples uses."""
    want = np.dtype(dtype)
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy {want} array, got {type(x).__name__}")
    if x.dtype != want:
        raise ValueError(f"{name} must have dtype {want}, got {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D (mono), got shape {x.shape}")
    return x


def check_pcm16(pcm: object, name: str = "pcm") -> Pcm16:
    """Return `pcm` unchanged if it is a 1-D int16 array; raise a precise ValueError otherwise."""
    return check_mono(pcm, np.int16, name)


def check_samples(x: object, name: str = "samples") -> Samples:
    """Return `x` unchanged if it is a 1-D float32 array; raise a precise ValueError otherwise."""
    return check_mono(x, np.float32, name)


def check_rate(rate: object, name: str = "rate") -> int:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer):
        raise ValueError(f"{name} must be an integer number of Hz, got {rate!r}")
    if not 1000 <= int(rate) <= 384_000:
        raise ValueError(f"{name} must be within 1000..384000 Hz, got {rate}")
    return int(rate)


def to_pcm16(x: Samples) -> Pcm16:
    """Round and saturate float samples in int16 scale to int16 (modifies `x`)."""
    np.rint(x, out=x)
    np.clip(x, -INT16_FULL_SCALE, INT16_FULL_SCALE - 1.0, out=x)
    return x.astype(np.int16)
