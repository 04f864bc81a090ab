"""Call audio for the call-core tests: pt-BR speech from espeak-ng with known silence around it."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soxr

Pcm = npt.NDArray[np.int16]

PHRASES = (
    "Bom dia, eu gostaria de saber o saldo da minha conta corrente.",
    "Quero fazer um pix de cem reais para a minha irmã.",
)


@functools.cache
def _synthesize(text: str) -> tuple[Pcm, int]:
    folder = Path(tempfile.mkdtemp(prefix="call-audio-"))
    path = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "pt-br", "-w", str(path), text], check=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).copy()
    shutil.rmtree(folder)
    return pcm, rate


def speech(text: str, rate: int) -> Pcm:
    """`text` spoken by espeak-ng, resampled to `rate`; skips the test without espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    pcm, source_rate = _synthesize(text)
    out: Pcm = soxr.resample(pcm, source_rate, rate)
    return out


def silence(seconds: float, rate: int) -> Pcm:
    return np.zeros(round(seconds * rate), np.int16)


def loud_bounds(pcm: Pcm, rate: int, floor_dbfs: float = -45.0) -> tuple[float, float]:
    """Seconds of the first and last 10 ms frame louder than `floor_dbfs`."""
    hop = rate // 100
    frames = pcm[: len(pcm) // hop * hop].astype(np.float64).reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-9) - 20 * np.log10(32768)
    loud = np.nonzero(level > floor_dbfs)[0]
    return int(loud[0]) * hop / rate, (int(loud[-1]) + 1) * hop / rate


def frames(pcm: Pcm, rate: int, ms: int = 20) -> list[Pcm]:
    step = rate * ms // 1000
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]
