"""TTS engine latency: time to the first audio chunk and real-time factor.

    python benchmarks/tts.py [--repeats 7] [--kokoro-repeats 3] [--threads 2] [--no-kokoro]

For each engine and prompt it prints the median over repeats of
  - first chunk: from the `synthesize` call to the first PCM chunk in hand (what a caller waits
    before the voice starts; the rest streams while it plays),
  - RTF: synthesis time of the whole text / duration of the audio produced (< 1 = faster than
    real time),
plus the cost of the steps around the engine: `speakable` text normalization and a cache hit.

espeak-ng runs the real library. Kokoro runs at the real Kokoro-82M size (82 M parameters,
built by tests/tiny_kokoro.py with random weights and its duration head set to ~2 frames per
phoneme, about the trained model's speaking rate), on CPU with `--threads` intra-op threads.
Random weights cost the same arithmetic as trained ones; the audio is noise.

Scope: this stops at the engine's output. How that audio is paced onto RTP during a call is
measured with the in-call playback, in that work's own benchmark script.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediaserver.domain.speakable import speakable
from mediaserver.engines.base import ModelInfo
from mediaserver.engines.tts import create_tts_engine
from mediaserver.engines.tts.base import TtsEngine
from mediaserver.engines.tts.cache import CachedSynthesizer, TtsCache

PROMPTS = {
    "short": "Um momento, por favor.",
    "answer": (
        "Olá, bom dia! Seu saldo disponível é de R$ 1.234,56. A fatura do cartão vence em "
        "20/11/2026, no valor de R$ 389,90. Posso ajudar em mais alguma coisa?"
    ),
}


def measure(engine: TtsEngine, text: str, voice: str) -> tuple[float, float]:
    """(seconds to the first chunk, real-time factor of the whole text)."""
    start = time.perf_counter()
    chunks = engine.synthesize(text, voice)
    first = next(chunks)
    to_first = time.perf_counter() - start
    samples = len(first) + sum(len(chunk) for chunk in chunks)
    elapsed = time.perf_counter() - start
    return to_first, elapsed / (samples / engine.sample_rate)


def median_of(repeats: int, run: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    results = [run() for _ in range(repeats)]
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
    )


def bench_engine(label: str, engine: TtsEngine, voice: str, repeats: int) -> None:
    for name, prompt in PROMPTS.items():
        text = speakable(prompt)
        measure(engine, text, voice)  # warm: first-call allocations, phonemizer start-up
        first, rtf = median_of(repeats, functools.partial(measure, engine, text, voice))
        print(f"{label:10} {name:7} first chunk {first * 1e3:8.1f} ms   RTF {rtf:.4f}")


def bench_around(engine: TtsEngine, repeats: int) -> None:
    text = PROMPTS["answer"]
    times = []
    for _ in range(repeats * 100):
        start = time.perf_counter()
        speakable(text)
        times.append(time.perf_counter() - start)
    print(f"speakable  answer  {statistics.median(times) * 1e6:8.1f} µs")
    tts = CachedSynthesizer(engine, TtsCache())
    tts.warm_up([text])
    hits = []
    for _ in range(repeats * 100):
        start = time.perf_counter()
        next(tts.synthesize(text))
        hits.append(time.perf_counter() - start)
    print(f"cache hit  answer  first chunk {statistics.median(hits) * 1e6:8.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--kokoro-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-kokoro", action="store_true")
    args = parser.parse_args()

    espeak = create_tts_engine("espeak-ng")
    espeak.load(ModelInfo("espeak-ng", Path("."), "espeak-ng", {"voice": "pt-br"}))
    bench_engine("espeak-ng", espeak, "pt-br", args.repeats)
    bench_around(espeak, args.repeats)
    if args.no_kokoro:
        return

    from tests.tiny_kokoro import WEIGHTS, build_kokoro

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        directory = build_kokoro(Path(folder) / "kokoro", size="real")
        built = time.perf_counter() - start
        kokoro = create_tts_engine("kokoro")
        start = time.perf_counter()
        kokoro.load(ModelInfo("kokoro", directory, "kokoro", {"model": WEIGHTS}, args.threads))
        loaded = time.perf_counter() - start
        print(f"kokoro     built in {built:.1f} s, loaded in {loaded:.1f} s")
        bench_engine("kokoro", kokoro, "pf_dora", args.kokoro_repeats)


if __name__ == "__main__":
    main()
