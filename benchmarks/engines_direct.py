"""Time faster-whisper directly on one file: the baseline the REST batch benchmark compares to.

    python benchmarks/engines_direct.py MODEL_DIR FILE [--compute-type int8] [--threads 2]
        [--beam-size 5] [--batched --batch-size 8] [--language pt] [--repeat 3]
    python benchmarks/engines_direct.py --tiny FILE     # a tiny random model, to try the script

Prints one JSON object: load seconds, audio seconds, each run's wall seconds and real-time factor.
Decoding settings match FasterWhisperEngine's (no VAD filter: the runtime does VAD).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run(
    model_dir: Path,
    audio_path: Path,
    *,
    compute_type: str = "int8",
    threads: int = 0,
    beam_size: int = 5,
    batched: bool = False,
    batch_size: int = 8,
    language: str | None = None,
    repeat: int = 3,
) -> dict[str, Any]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

    audio = decode_audio(str(audio_path), sampling_rate=16_000)
    duration = len(audio) / 16_000
    started = time.perf_counter()
    model = WhisperModel(
        str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=threads
    )
    load_s = time.perf_counter() - started
    runs: list[float] = []
    words = 0
    for _ in range(repeat):
        started = time.perf_counter()
        if batched:
            clips = [
                {"start": s, "end": min(s + 30.0, duration)}
                for s in range(0, max(int(duration), 1), 30)
            ]
            segments, _ = BatchedInferencePipeline(model).transcribe(
                audio,
                language=language,
                beam_size=beam_size,
                batch_size=batch_size,
                vad_filter=False,
                clip_timestamps=clips,
            )
        else:
            segments, _ = model.transcribe(
                audio, language=language, beam_size=beam_size, vad_filter=False
            )
        words = sum(len(segment.text.split()) for segment in segments)  # decoding is lazy
        runs.append(time.perf_counter() - started)
    return {
        "model": model_dir.name,
        "compute_type": compute_type,
        "threads": threads,
        "batched": batched,
        "audio_s": round(duration, 3),
        "load_s": round(load_s, 3),
        "runs_s": [round(r, 3) for r in runs],
        "best_rtf": round(min(runs) / duration, 4) if duration else None,
        "words": words,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", type=Path)
    parser.add_argument("file", type=Path)
    parser.add_argument("--tiny", action="store_true", help="build a tiny random-weight model")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--batched", action="store_true")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--language")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    options = {
        "compute_type": args.compute_type,
        "threads": args.threads,
        "beam_size": args.beam_size,
        "batched": args.batched,
        "batch_size": args.batch_size,
        "language": args.language,
        "repeat": args.repeat,
    }
    if args.tiny:
        from tests.tiny_models import build_tiny_whisper

        with tempfile.TemporaryDirectory() as tmp:
            model_dir = build_tiny_whisper(Path(tmp) / "tiny-whisper")
            print(json.dumps(run(model_dir, args.file, **options)))
        return
    if args.model_dir is None:
        parser.error("MODEL_DIR is required unless --tiny is given")
    print(json.dumps(run(args.model_dir, args.file, **options)))


if __name__ == "__main__":
    main()
