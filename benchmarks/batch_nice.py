"""How much a long-file decode in another process slows a live final, per OS niceness.

The measurement behind `models.batch_worker_nice`. This process decodes one 4 s utterance of
real telephony speech the way a final is decoded (faster-whisper base int8, 2 threads, beam 5,
English, 30 s window), first alone, then while a second process decodes the 300 s recording
(`tests/long_speech.py`) in a loop with `BatchedInferencePipeline` at each niceness given.
Printed: the median and worst final decode per case, and the ratio to alone.

    python benchmarks/batch_nice.py                 # niceness 0, 10, 19
    python benchmarks/batch_nice.py --nice 5,19 --finals 12
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.long_speech import long_recording  # noqa: E402
from tests.real_model import whisper_base_dir  # noqa: E402

WARM_S = 8.0  # the file loop has loaded its model and is decoding


def recording() -> np.ndarray:
    pcm = long_recording().pcm.astype(np.float32) / 32768.0
    return soxr.resample(pcm, 8000, 16000)


def file_loop(nice: int) -> None:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    os.nice(nice)
    audio = recording()
    pipeline = BatchedInferencePipeline(
        WhisperModel(str(whisper_base_dir()), compute_type="int8", cpu_threads=2)
    )
    while True:
        segments, _ = pipeline.transcribe(audio, language="en", batch_size=1)
        for _ in segments:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nice", default="0,10,19")
    parser.add_argument("--finals", type=int, default=8, help="final decodes per case")
    parser.add_argument("--file-loop", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.file_loop is not None:
        file_loop(args.file_loop)
        return
    from faster_whisper import WhisperModel

    model = WhisperModel(str(whisper_base_dir()), compute_type="int8", cpu_threads=2)
    utterance = recording()[16000 * 10 : 16000 * 14]

    def final() -> float:
        started = time.perf_counter()
        segments, _ = model.transcribe(utterance, language="en", beam_size=5, vad_filter=False)
        list(segments)
        return time.perf_counter() - started

    final()
    alone = statistics.median(final() for _ in range(args.finals))
    print("| beside | final decode p50 | worst | p50 / alone |\n|---|---|---|---|")
    print(f"| nothing | {alone * 1000:.0f} ms | - | 1.00 |", flush=True)
    for nice in [int(n) for n in args.nice.split(",")]:
        loop = subprocess.Popen([sys.executable, __file__, "--file-loop", str(nice)])
        try:
            time.sleep(WARM_S)
            times = []
            for _ in range(args.finals):
                times.append(final())
                time.sleep(0.3)  # finals come between pauses, not back to back
        finally:
            loop.kill()
            loop.wait()
        p50 = statistics.median(times)
        print(f"| a file decode at nice {nice} | {p50 * 1000:.0f} ms | {max(times) * 1000:.0f} ms "
              f"| {p50 / alone:.2f} |", flush=True)  # fmt: skip
        time.sleep(1.0)


if __name__ == "__main__":
    main()
