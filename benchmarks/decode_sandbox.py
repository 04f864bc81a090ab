"""What decoding uploads in a child process costs, and what it saves.

    python benchmarks/decode_sandbox.py [--seconds 60] [--repeat 7]

1. Latency. A `--seconds` file (speech-like noise, 16 kHz mono) in WAV, FLAC, MP3, Opus and
   AAC: `decode_audio` in this process (what the server did) against `DecodeSandbox.decode`
   with its warm spare (what the server does) and without one (what `mediaserver transcribe`
   does). Prints the median of each and the overhead in ms.
2. Memory. The issue's bombs: 60 min of silence as a 656 kB FLAC without a duration in its
   header, and a 4 h FLAC (2.7 MB, duration in the header). Each is decoded in a fresh
   interpreter, in-process then through the sandbox, under the default limits; prints that
   process's peak RSS growth (the child's memory is the child's, bounded by its RLIMIT_AS).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CODECS = {
    "wav": ["-c:a", "pcm_s16le"],
    "flac": ["-c:a", "flac"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "ogg": ["-c:a", "libopus", "-b:a", "24k"],
    "m4a": ["-c:a", "aac", "-b:a", "64k"],
}


def make(path: Path, source: list[str], codec: list[str]) -> bytes:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *source, *codec, str(path)]
    subprocess.run(cmd, check=True, timeout=600)
    return path.read_bytes()


async def latency(files: dict[str, bytes], repeat: int) -> None:
    from mediaserver.audio.decode import decode_audio
    from mediaserver.decoding.sandbox import DecodeSandbox, SandboxLimits

    warm = DecodeSandbox(SandboxLimits())
    cold = DecodeSandbox(SandboxLimits(), spare=False)
    await warm.start()
    print("wall ms: in-process | sandbox (warm spare) | no spare (CLI) | overhead;"
          "  CPU ms: in-process | sandbox incl. child start")  # fmt: skip
    for name, data in files.items():
        wall: dict[str, list[float]] = {"in": [], "warm": [], "cold": []}
        cpu: dict[str, list[float]] = {"in": [], "warm": []}
        for _ in range(repeat):
            await asyncio.sleep(2.0)  # the spare finishes its imports, as between requests
            t, c = time.perf_counter(), _cpu()
            decode_audio(data, dtype="int16")
            wall["in"].append(time.perf_counter() - t)
            cpu["in"].append(_cpu() - c)
            t, c = time.perf_counter(), _cpu()
            await warm.decode(io.BytesIO(data))
            wall["warm"].append(time.perf_counter() - t)
            cpu["warm"].append(_cpu() - c)  # this decode's child, spawned (and imported) earlier
            t = time.perf_counter()
            await cold.decode(io.BytesIO(data))
            wall["cold"].append(time.perf_counter() - t)
        w = {k: statistics.median(v) * 1000 for k, v in wall.items()}
        u = {k: statistics.median(v) * 1000 for k, v in cpu.items()}
        extra = w["warm"] - w["in"]
        print(f"{name:5} {w['in']:7.0f} {w['warm']:7.0f} {w['cold']:7.0f} {extra:+6.0f}"
              f"   CPU {u['in']:6.0f} {u['warm']:6.0f}")  # fmt: skip
    await warm.aclose()


def _cpu() -> float:
    """CPU seconds of this process and of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


MEASURE = """
import asyncio, io, json, resource, sys
from pathlib import Path
data = Path(sys.argv[2]).read_bytes()
import av, numpy  # imports are not the decode's memory
from mediaserver.audio.decode import AudioDecodeError, decode_audio
from mediaserver.decoding.sandbox import DecodeSandbox, SandboxLimits
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    if sys.argv[1] == "in-process":
        out = decode_audio(data, dtype="int16").duration_s
    else:
        sandbox = DecodeSandbox(SandboxLimits(), spare=False)
        out = asyncio.run(sandbox.decode(io.BytesIO(data))).duration_s
except AudioDecodeError as exc:
    out = f"{type(exc).__name__}: {exc.reason}"
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"result": out, "peak_growth_mb": (after - before) / 1024}))
"""


def memory(files: dict[str, Path]) -> None:
    for name, path in files.items():
        for mode in ("in-process", "sandbox"):
            proc = subprocess.run([sys.executable, "-c", MEASURE, mode, str(path)],
                                  capture_output=True, text=True, timeout=900)  # fmt: skip
            if proc.returncode != 0:
                print(f"{name:28} {mode:10} died: status {proc.returncode}")
                continue
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{name:28} {mode:10} +{got['peak_growth_mb']:7.1f} MB  {got['result']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        speech = ["-f", "lavfi", "-i", f"anoisesrc=r=16000:a=0.1:d={args.seconds}"]
        files = {ext: make(root / f"a.{ext}", speech, codec) for ext, codec in CODECS.items()}
        print(f"1. decoding a {args.seconds:g} s file (median of {args.repeat})")
        asyncio.run(latency(files, args.repeat))
        hour = root / "hour-no-duration.flac"
        cmd = [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono",
            "-t",
            "3600",
            "-c:a",
            "flac",
            "-f",
            "flac",
            "pipe:",
        ]
        hour.write_bytes(subprocess.run(cmd, check=True, capture_output=True).stdout)
        four = root / "4h.flac"
        make(four, ["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "14400"],
             ["-c:a", "flac"])  # fmt: skip
        eight = root / "8ch.flac"
        make(eight, ["-f", "lavfi", "-i", "anullsrc=r=8000:cl=7.1", "-t", "2"], ["-c:a", "flac"])
        print("\n2. peak RSS growth of the decoding process (default limits: 2 h)")
        memory({
            f"60 min silence ({hour.stat().st_size // 1000} kB)": hour,
            f"4 h declared ({four.stat().st_size // 1000} kB)": four,
            "8 channels (7.1 FLAC)": eight,
        })  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"\n(this process: peak RSS {peak} MB)")


if __name__ == "__main__":
    main()
