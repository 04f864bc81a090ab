"""Helpers shared by the benchmarks: test audio, CPU-time medians.

Importing this module puts the repository root on `sys.path`, so the scripts run from a
checkout (``python benchmarks/<script>.py``) without installing the package.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RATE = 16_000
FRAME = RATE // 50  # 20 ms at 16 kHz
LINE_NOISE_DBFS = -70.0

# Things a bank's caller says; several sentences so utterances differ in length and sound.
SENTENCES = (
    "Bom dia, eu gostaria de consultar o saldo da minha conta corrente.",
    "Quero fazer um pix de cento e vinte reais para a minha mãe.",
    "O número do meu cpf é um dois três, quatro cinco seis, sete oito nove, zero zero.",
    "Meu cartão foi bloqueado ontem à noite e eu preciso desbloquear.",
    "Pode repetir, por favor? Não entendi a última parte.",
    "Obrigado, era só isso mesmo. Tenha um bom dia.",
)


def espeak(text: str, voice: str = "pt-br") -> tuple[np.ndarray, int] | None:
    """PCM16 and its rate from the espeak-ng command, or None when it is not installed."""
    if shutil.which("espeak-ng") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        with wave.open(str(path)) as w:
            return np.frombuffer(w.readframes(w.getnframes()), np.int16).copy(), w.getframerate()


def speech(seconds: float, rate: int = RATE) -> tuple[np.ndarray, str]:
    """Continuous pt-BR speech (loud noise without espeak-ng: every chunk then reaches the
    network, which costs the same)."""
    n = int(seconds * rate)
    spoken = espeak(SENTENCES[0])
    if spoken is None:
        rng = np.random.default_rng(0)
        return (rng.standard_normal(n) * 3000).astype(np.int16), "loud noise"
    pcm, source_rate = spoken
    return np.resize(soxr.resample(pcm, source_rate, rate), n), "espeak-ng pt-BR"


def line_noise(seconds: float, rate: int = RATE, seed: int = 1) -> np.ndarray:
    """The silence of a phone line: white noise at `LINE_NOISE_DBFS`."""
    rng = np.random.default_rng(seed)
    level = 32768 * 10 ** (LINE_NOISE_DBFS / 20)
    return (rng.standard_normal(int(seconds * rate)) * level).astype(np.int16)


def call_audio(seconds: float, rate: int) -> tuple[np.ndarray, str]:
    """One side of a call: utterances, each followed by as much line noise (about 50/50)."""
    parts: list[np.ndarray] = []
    source = "espeak-ng pt-BR"
    for i, sentence in enumerate(SENTENCES):
        spoken = espeak(sentence)
        if spoken is None:
            rng = np.random.default_rng(i)
            utterance = (rng.standard_normal(3 * rate) * 3000).astype(np.int16)
            source = "loud noise bursts"
        else:
            utterance = soxr.resample(spoken[0], spoken[1], rate).astype(np.int16)
        parts += [utterance, line_noise(len(utterance) / rate, rate, seed=i)]
    whole = np.concatenate(parts)
    return np.resize(whole, int(seconds * rate)), f"{source} + line noise, ~50/50"


def frames(pcm: np.ndarray, size: int) -> list[np.ndarray]:
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


def median_us(run: Callable[[], int], repeats: int) -> float:
    """`run` processes some frames and returns how many; result: median µs per frame.

    CPU time of this process, not wall time: the figures then hold on a shared, busy machine
    (onnxruntime runs single-threaded in the calling thread, so nothing is hidden).
    """
    results = []
    for _ in range(repeats):
        start = time.process_time()
        count = run()
        results.append((time.process_time() - start) / count * 1e6)
    return statistics.median(results)
