"""Real human telephony speech for tests: Debian's Asterisk core prompts (8 kHz mono WAV).

`asterisk-core-sounds-en-wav` installs the recordings under `/usr/share/asterisk/sounds/en/`;
`asterisk-core-sounds-en` ships their transcripts (`core-sounds-en.txt.gz`, `name: text` per
line). `scripts/install.sh --test` installs both. `prompts()` pairs them, keeping only spoken
prompts (not tones, not bracketed descriptions), so WER can be measured against real speech.
"""

from __future__ import annotations

import gzip
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SOUNDS = Path("/usr/share/asterisk/sounds/en")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
RATE = 8000


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str  # relative to SOUNDS, without ".wav" (e.g. "auth-thankyou", "digits/5")
    text: str

    @property
    def path(self) -> Path:
        return SOUNDS / f"{self.name}.wav"

    def pcm(self) -> npt.NDArray[np.int16]:
        """The recording as PCM16 at 8 kHz (what a PBX would send)."""
        with wave.open(str(self.path), "rb") as wav:
            if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (RATE, 1, 2):
                raise ValueError(f"{self.path}: not 8 kHz mono PCM16")
            return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).copy()


def available() -> bool:
    return SOUNDS.is_dir() and TRANSCRIPTS.is_file()


def prompts() -> dict[str, Prompt]:
    """Every spoken prompt whose recording exists, by name."""
    found: dict[str, Prompt] = {}
    with gzip.open(TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            name, sep, text = line.partition(":")
            text = text.strip()
            if not sep or line.startswith(";") or not text or "[" in text:
                continue
            prompt = Prompt(name.strip(), text)
            if prompt.path.is_file():
                found[prompt.name] = prompt
    return found


def words(text: str) -> list[str]:
    """Lower-case words for WER: punctuation dropped, digits kept."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length): sum both over a corpus for its WER."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)
