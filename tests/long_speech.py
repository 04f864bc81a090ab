"""A five-minute recording of real human telephony speech, with its transcript.

Built from Debian's Asterisk prompts (`tests/real_speech.py`): top-level prompts in a fixed
random order, separated by pauses of 0.25-1.0 s (a caller waiting, a menu pausing), until the
recording passes `SECONDS`. Deterministic: the same prompts, pauses and samples every run, so
WER figures of different code paths compare. Short pauses are what fixed 30 s windows cut
through; long files are what the batch path has to get right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tests.real_speech import RATE, available, prompts

SECONDS = 300.0
SEED = 14
__all__ = ["RATE", "LongRecording", "available", "long_recording"]


@dataclass(frozen=True, slots=True)
class LongRecording:
    pcm: npt.NDArray[np.int16]  # 8 kHz mono, as a PBX records it
    text: str  # the reference transcript, prompts in order
    prompts: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / RATE

    def pcm16k(self) -> npt.NDArray[np.int16]:
        """The recording at the server's 16 kHz (soxr, as the decoder would)."""
        import soxr

        return np.asarray(soxr.resample(self.pcm, RATE, 16000), dtype=np.int16)


def long_recording(seconds: float = SECONDS, seed: int = SEED) -> LongRecording:
    found = prompts()
    names = sorted(name for name in found if "/" not in name)  # sentences, not digits/letters
    order = np.random.default_rng(seed).permutation(len(names))
    pause_rng = np.random.default_rng(seed + 1)
    pieces: list[npt.NDArray[np.int16]] = []
    texts: list[str] = []
    total = 0
    for index in order:
        prompt = found[names[int(index)]]
        pause = np.zeros(int(pause_rng.uniform(0.25, 1.0) * RATE), np.int16)
        pcm = prompt.pcm()
        pieces += [pcm, pause]
        texts.append(prompt.text)
        total += len(pcm) + len(pause)
        if total >= seconds * RATE:
            break
    return LongRecording(np.concatenate(pieces), " ".join(texts), len(texts))
