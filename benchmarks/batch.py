"""Long-file batch transcription with the real faster-whisper base model, against the library.

    python benchmarks/batch.py [--repeat 2] [--threads 2] [--gain] [--ladder]

The recording: `tests/long_speech.py`, 300 s of real human telephony speech (80 Asterisk
prompts, 8 kHz, short pauses between them), resampled to 16 kHz. The model:
faster-whisper-base (Systran's CTranslate2 conversion, `tests/real_model.py`), int8 on CPU.

1. Accuracy and speed, back to back, `--repeat` times each:
   - `sequential`: `WhisperModel.transcribe` (the library's defaults: beam 5, temperature
     ladder, conditioning on previous text), the accuracy reference;
   - `library batched`: `BatchedInferencePipeline.transcribe(batch_size=8)` with its own VAD,
     the speed reference;
   - `mediaserver`: `batch.transcribe` (the server's VAD, packing, engine options, batched
     decoding) with the engine in-process (the server runs it in a worker process; IPC adds
     ~0.1 s for a file like this).
   Prints wall-time medians, WER, and the targets: WER <= sequential + 0.3 pt, wall <= 1.0x
   library batched.
2. `--gain`: the server path on audio through the live gain normalisation first (the batch path
   leaves it out; this is the measurement behind that choice).
3. `--ladder`: decode time on bad audio (prompts under white noise at 0 dB SNR) with the
   temperature fallback ladder capped at 0, 1 and 5 fallbacks (`temperature_fallbacks`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediaserver.batch import transcription as batch
from mediaserver.config import AudioSettings
from mediaserver.engines.base import TranscribeOptions
from tests.in_process import whisper
from tests.long_speech import long_recording
from tests.real_model import whisper_base_dir
from tests.real_speech import prompts, word_errors

OPTIONS = TranscribeOptions(language="en")


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def wer(reference: str, text: str) -> float:
    errors, words = word_errors(reference, text)
    return 100.0 * errors / words


def measure(name: str, fn: Callable[[], str], reference: str, runs: dict[str, list[float]],
            wers: dict[str, float]) -> None:  # fmt: skip
    started = time.perf_counter()
    text = fn()
    wall = time.perf_counter() - started
    runs.setdefault(name, []).append(wall)
    wers[name] = wer(reference, text)
    print(f"  {name:16s} {wall:7.2f} s  WER {wers[name]:5.2f} %  (load {load()})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gain", action="store_true", help="also the server path with gain")
    parser.add_argument("--ladder", action="store_true", help="also the fallback-ladder figures")
    parser.add_argument("--skip-sequential", action="store_true")
    args = parser.parse_args()

    from faster_whisper import BatchedInferencePipeline

    model_dir = whisper_base_dir()
    recording = long_recording()
    pcm = recording.pcm16k()
    floats = pcm.astype(np.float32) / 32768.0
    print(f"recording: {recording.duration_s:.1f} s, {recording.prompts} prompts, "
          f"{len(recording.text.split())} words; model faster-whisper-base int8, "
          f"{args.threads} threads")  # fmt: skip
    ours = whisper(model_dir, args.threads)
    library = ours.engine._model  # the same loaded WhisperModel for every path
    pipeline = BatchedInferencePipeline(library)

    def sequential() -> str:
        segments, _ = library.transcribe(floats, language="en")
        return " ".join(s.text for s in segments)

    def library_batched() -> str:
        segments, _ = pipeline.transcribe(floats, language="en", batch_size=8)
        return " ".join(s.text for s in segments)

    def server_path(settings: AudioSettings) -> Callable[[], str]:
        def run() -> str:
            rows = batch.preprocess(pcm[None, :], settings)
            result = asyncio.run(batch.transcribe(ours, "base", [(None, rows[0])], OPTIONS))
            return result.text

        return run

    runs: dict[str, list[float]] = {}
    wers: dict[str, float] = {}
    for i in range(args.repeat):
        print(f"round {i + 1}", flush=True)
        if not args.skip_sequential and i == 0:
            measure("sequential", sequential, recording.text, runs, wers)
        measure("library batched", library_batched, recording.text, runs, wers)
        measure("mediaserver", server_path(AudioSettings()), recording.text, runs, wers)
    if args.gain:
        gained = _gained(pcm)
        measure("mediaserver+gain", _on(ours, gained), recording.text, runs, wers)
    print("\nmedians:")
    for name, walls in runs.items():
        print(f"  {name:16s} {statistics.median(walls):7.2f} s  WER {wers[name]:5.2f} %")
    ratio = statistics.median(runs["mediaserver"]) / statistics.median(runs["library batched"])
    print(f"wall mediaserver / library batched = {ratio:.2f} (target <= 1.0)")
    if "sequential" in wers:
        delta = wers["mediaserver"] - wers["sequential"]
        print(f"WER mediaserver - sequential = {delta:+.2f} pt (target <= +0.3)")
    if args.ladder:
        ladder(model_dir, args.threads)


def _gained(pcm: Any) -> Any:
    """The file through the live path's preprocessing (DC removal + gain normalisation)."""
    from mediaserver.audio.pipeline import Preprocessor
    from mediaserver.audio.resample import OFFLINE_QUALITY

    pre = Preprocessor(16000, AudioSettings(), quality=OFFLINE_QUALITY)
    out = [pre.process(pcm[i : i + 160000]) for i in range(0, len(pcm), 160000)]
    out.append(pre.flush())
    pre.close()
    return np.concatenate(out)


def _on(engine: Any, pcm: Any) -> Callable[[], str]:
    def run() -> str:
        result = asyncio.run(batch.transcribe(engine, "base", [(None, pcm)], OPTIONS))
        return result.text

    return run


def ladder(model_dir: Path, threads: int, count: int = 8) -> None:
    """Decode time of noisy prompts (0 dB SNR white noise) with the ladder capped."""
    import soxr

    found = prompts()
    names = sorted(n for n in found if "/" not in n and len(found[n].text.split()) >= 8)[:count]
    rng = np.random.default_rng(0)
    noisy = []
    for name in names:
        clean = soxr.resample(found[name].pcm().astype(np.float32) / 32768.0, 8000, 16000)
        noise = rng.standard_normal(len(clean)).astype(np.float32) * float(np.std(clean))
        noisy.append((found[name].text, np.clip(clean + noise, -1, 1).astype(np.float32)))
    print(f"\nladder: {len(noisy)} prompts, white noise at 0 dB SNR")
    for fallbacks in (0, 1, 5):
        engine = whisper(model_dir, threads, temperature_fallbacks=fallbacks).engine
        walls, errors, words = [], 0, 0
        for text, audio in noisy:
            started = time.perf_counter()
            out = engine.transcribe_file(audio, OPTIONS)
            walls.append(time.perf_counter() - started)
            e, n = word_errors(text, out.text)
            errors, words = errors + e, words + n
        print(f"  fallbacks={fallbacks}: total {sum(walls):6.2f} s, worst {max(walls):5.2f} s, "
              f"WER {100 * errors / words:5.1f} %  (load {load()})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
