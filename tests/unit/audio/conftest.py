"""Signals for the audio tests: tones, noises at a given level, pt-BR speech from espeak-ng."""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soxr

from mediaserver.audio.silero import SileroModel

RATE = 16_000
Speech = Callable[[str], np.ndarray]


def at_level(x: np.ndarray, rms_dbfs: float) -> np.ndarray:
    """Scale float samples to an RMS level in dBFS (int16 scale, not yet rounded)."""
    x = np.asarray(x, np.float64)
    return x / np.sqrt(np.mean(x**2)) * 32768.0 * 10.0 ** (rms_dbfs / 20.0)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def white_noise(n: int, rms_dbfs: float, seed: int = 0) -> np.ndarray:
    return to_int16(at_level(np.random.default_rng(seed).standard_normal(n), rms_dbfs))


def pink_noise(n: int, rms_dbfs: float, seed: int = 0, rate: int = RATE) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / rate), 20.0))
    return to_int16(at_level(np.fft.irfft(spectrum, n), rms_dbfs))


def tone(freq: float, seconds: float, peak: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return peak * np.sin(2 * np.pi * freq * t)


def speech_bounds(pcm: np.ndarray, rate: int = RATE, floor_dbfs: float = -45.0) -> tuple[int, int]:
    """First and last 10 ms frame louder than `floor_dbfs`, as sample positions."""
    hop = rate // 100
    frames = pcm[: len(pcm) // hop * hop].astype(np.float64).reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-9) - 20 * np.log10(32768)
    loud = np.nonzero(level > floor_dbfs)[0]
    return int(loud[0]) * hop, (int(loud[-1]) + 1) * hop


def feed_in_frames(process: Callable[[np.ndarray], list], pcm: np.ndarray, frame: int) -> list:
    out: list = []
    for start in range(0, len(pcm), frame):
        out += process(pcm[start : start + frame])
    return out


@pytest.fixture(scope="session")
def silero() -> SileroModel:
    return SileroModel()


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    """`speech(text)` -> int16 pt-BR speech at 16 kHz, synthesized by espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("espeak")
    cache: dict[str, np.ndarray] = {}

    def synthesize(text: str) -> np.ndarray:
        if text not in cache:
            path = Path(folder) / f"{len(cache)}.wav"
            subprocess.run(["espeak-ng", "-v", "pt-br", "-w", str(path), text], check=True)
            with wave.open(str(path)) as w:
                rate = w.getframerate()
                pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            cache[text] = soxr.resample(pcm, rate, RATE)
        return cache[text]

    return synthesize
