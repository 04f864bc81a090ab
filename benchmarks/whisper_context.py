"""Whisper's encoder window for live utterances: accuracy and decode time against 30 s.

The real faster-whisper base model (int8, 2 threads; `tests/real_model.py`) decodes the same
utterances of real telephony speech (Debian's Asterisk prompts, 8 kHz resampled to 16 kHz,
`tests/real_speech.py`) as a live final does (beam 5, the first temperature, English), once on
Whisper's 30 s window and once per minimum window given, each through the engine's own rule
(`mediaserver.engines.stt.whisper_context`: the utterance and 5 s after it, at least the
minimum; a troubled decode done again on 30 s). The utterances: every third single prompt of
1-8 s, then prompts joined with 0.3 s pauses (2-5 of them, up to 25 s, the live path's longest
segment), `--items` in all, drawn with a fixed seed.

    python benchmarks/whisper_context.py                       # 150 utterances, minimum 20 s
    python benchmarks/whisper_context.py --minimum 20,15,10 --items 60
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mediaserver.engines.stt.whisper_context import (  # noqa: E402
    ContextWhisperModel,
    context_frames,
    troubled,
)
from tests.real_model import whisper_base_dir  # noqa: E402
from tests.real_speech import prompts, word_errors, words  # noqa: E402

RATE = 16_000
GAP = np.zeros(int(0.3 * RATE), np.float32)
THRESHOLDS: dict[str, float | None] = {
    "no_speech_threshold": 0.6,
    "log_prob_threshold": -1.0,
    "compression_ratio_threshold": 2.4,
}


def utterances(count: int) -> list[tuple[np.ndarray, str]]:
    pool = []
    for prompt in sorted(prompts().values(), key=lambda p: p.name):
        audio = soxr.resample(prompt.pcm().astype(np.float32) / 32768, 8000, RATE)
        spoken = "silence" not in prompt.text and len(words(prompt.text)) >= 2
        if spoken and 1.0 < len(audio) / RATE < 8:
            pool.append((audio, prompt.text))
    rng = random.Random(11)
    items = pool[::3][:count]
    while len(items) < count:
        parts = rng.sample(pool, rng.choice([2, 3, 4, 5]))
        audio = np.concatenate([x for a, _ in parts for x in (a, GAP)][:-1])
        if len(audio) / RATE <= 25:
            items.append((audio, " ".join(text for _, text in parts)))
    return items


def decode(model: ContextWhisperModel, audio: np.ndarray, frames: int | None, **kw: Any) -> Any:
    with model.context(frames):
        segments, _ = model.transcribe(
            audio,
            language="en",
            beam_size=5,
            vad_filter=False,
            condition_on_previous_text=False,
            **kw,
        )
        return list(segments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=150)
    parser.add_argument("--minimum", default="20", help="minimum windows to try, in seconds")
    args = parser.parse_args()
    minimums = [float(m) for m in args.minimum.split(",")]
    model = ContextWhisperModel(
        str(whisper_base_dir()), device="cpu", compute_type="int8", cpu_threads=2
    )
    items = utterances(args.items)
    seconds = sum(len(a) for a, _ in items) / RATE
    print(f"{len(items)} utterances, {seconds:.0f} s of speech, faster-whisper base int8")
    decode(model, items[0][0], None)  # warm-up
    rows = []
    errors = total = 0
    start = time.perf_counter()
    for audio, text in items:
        hyp = " ".join(s.text for s in decode(model, audio, None, temperature=(0.0, 0.2)))
        e, n = word_errors(text, hyp)
        errors, total = errors + e, total + n
    rows.append(("30 s (Whisper's own)", errors, total, time.perf_counter() - start, 0))
    for minimum in minimums:
        errors = total = redone = 0
        start = time.perf_counter()
        for audio, text in items:
            frames = context_frames(len(audio), minimum)
            segments = decode(model, audio, frames, temperature=0.0)
            if frames is not None and troubled(segments, **THRESHOLDS):
                redone += 1
                segments = decode(model, audio, None, temperature=(0.0, 0.2))
            e, n = word_errors(text, " ".join(s.text for s in segments))
            errors, total = errors + e, total + n
        label = f"speech + 5 s, at least {minimum:g} s"
        rows.append((label, errors, total, time.perf_counter() - start, redone))
    base = rows[0][3]
    print("\n| window | WER | decode time | vs 30 s | redone on 30 s |\n|---|---|---|---|---|")
    for label, errors, total, wall, redone in rows:
        wer = f"{100 * errors / total:.2f} % ({errors}/{total})"
        print(f"| {label} | {wer} | {wall:.1f} s | {wall / base:.2f} | {redone} |")


if __name__ == "__main__":
    main()
