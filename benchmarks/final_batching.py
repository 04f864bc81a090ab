"""Would batching several calls' finals into one Whisper decode pay on this machine?

The issue asks for batching "where the engine allows it": faster-whisper can encode and
generate K windows in one call. This measures whether that beats K decodes one after the other,
on the work a live final is: one utterance of real telephony speech (Debian's Asterisk prompts,
8 kHz resampled to 16 kHz, `tests/real_speech.py`) on a short encoder window, beam 5, English,
with the real faster-whisper base model (int8, `--threads` CPU threads; `tests/real_model.py`).

For K in `--k` and each window length in `--window` (frames of 10 ms; 2000 = the live path's
20 s minimum, 3000 = Whisper's 30 s), `--rounds` groups of K different prompts are decoded
both ways, back to back: `sequential` (encode + generate per utterance, batch 1) and `batched`
(one encode of K windows, one generate of K prompts). Printed: median wall per group, the
ratio batched / sequential, what the K-th final waits in each case (a batch returns all its
finals at once; sequentially the first is out after 1/K of the time), and that both ways give
the same words.

    python benchmarks/final_batching.py                       # K = 1, 2, 4; window 2000
    python benchmarks/final_batching.py --k 2,4,8 --window 2000,3000 --rounds 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.real_model import whisper_base_dir  # noqa: E402
from tests.real_speech import prompts, word_errors, words  # noqa: E402

RATE = 16_000


def pool(count: int) -> list[tuple[np.ndarray, str]]:
    found = []
    for prompt in sorted(prompts().values(), key=lambda p: p.name):
        audio = soxr.resample(prompt.pcm().astype(np.float32) / 32768, 8000, RATE)
        if len(words(prompt.text)) >= 4 and 2.0 <= len(audio) / RATE <= 7.0:
            found.append((audio, prompt.text))
    return found[:: max(1, len(found) // count)][:count]


class Decoder:
    def __init__(self, threads: int) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.model = WhisperModel(str(whisper_base_dir()), compute_type="int8", cpu_threads=threads)
        self.tokenizer = Tokenizer(
            self.model.hf_tokenizer, True, task="transcribe", language="en"
        )
        self.prompt = self.model.get_prompt(self.tokenizer, [], without_timestamps=True)

    def features(self, audio: np.ndarray, frames: int) -> np.ndarray:
        feats = self.model.feature_extractor(audio)
        out = np.zeros((feats.shape[0], frames), np.float32)
        out[:, : min(frames, feats.shape[1])] = feats[:, :frames]
        return out

    def decode(self, feats: list[np.ndarray]) -> list[str]:
        encoded = self.model.encode(np.stack(feats))
        results: Any = self.model.model.generate(
            encoded, [self.prompt] * len(feats), beam_size=5, max_length=224,
            suppress_blank=True, suppress_tokens=[-1],
        )  # fmt: skip
        return [self.tokenizer.decode(r.sequences_ids[0]).strip() for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", default="1,2,4", help="finals per batch")
    parser.add_argument("--window", default="2000", help="encoder frames per window")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    windows = [int(w) for w in args.window.split(",")]
    items = pool(max(ks) * args.rounds)
    decoder = Decoder(args.threads)
    decoder.decode([decoder.features(items[0][0], windows[0])])  # warm
    print(f"faster-whisper base int8, {args.threads} threads, {len(items)} prompts, beam 5")
    print("| window | K | sequential (group) | batched (group) | batched / sequential "
          "| first final, seq | last final, both | same words |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for frames in windows:
        for k in ks:
            seq, bat, agree, checked = [], [], 0, 0
            for r in range(args.rounds):
                group = items[(r * k) % len(items) :][:k]
                feats = [decoder.features(a, frames) for a, _ in group]
                started = time.perf_counter()
                one_by_one = [decoder.decode([f])[0] for f in feats]
                seq.append(time.perf_counter() - started)
                started = time.perf_counter()
                together = decoder.decode(feats)
                bat.append(time.perf_counter() - started)
                for (_, ref), a, b in zip(group, one_by_one, together, strict=True):
                    checked += 1
                    agree += word_errors(ref, a) == word_errors(ref, b)
            s, b = statistics.median(seq), statistics.median(bat)
            print(f"| {frames / 100:.0f} s | {k} | {s * 1000:.0f} ms | {b * 1000:.0f} ms | "
                  f"{b / s:.2f} | {s / k * 1000:.0f} ms | {s * 1000:.0f} / {b * 1000:.0f} ms | "
                  f"{agree}/{checked} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
