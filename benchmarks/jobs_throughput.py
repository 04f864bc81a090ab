"""Transcription jobs' throughput with the real model, idle and beside live calls.

The server is `python -m mediaserver serve` with faster-whisper **base** (int8) as in
`realtime_latency.py`, whose server, calls and sender this reuses. `--jobs` copies of the 300 s
real-speech recording (`tests/long_speech.py`: 80 Asterisk telephony prompts, 8 kHz WAV, as a
PBX records) are submitted at once to `POST /v1/jobs` (English) and polled until all succeed.

Printed, per case:
- idle: the jobs alone;
- with N live calls: the same jobs submitted while N real-time G.711 calls stream real speech
  (their `realtime_latency` figures are printed too, so what the jobs cost the calls shows);
throughput in hours of audio per hour of wall time (submit of the first job to success of the
last), and each job's WER against the recording's transcript.

    python benchmarks/jobs_throughput.py                  # 4 jobs, idle and beside 2 calls
    python benchmarks/jobs_throughput.py --jobs 2 --calls 2,4
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import realtime_latency as live  # noqa: E402

from tests.long_speech import RATE, long_recording  # noqa: E402
from tests.real_model import whisper_base_dir  # noqa: E402
from tests.real_speech import word_errors  # noqa: E402

POLL_S = 0.5


def wav_bytes() -> tuple[bytes, str, float]:
    recording = long_recording()
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(recording.pcm.astype("<i2").tobytes())
    return out.getvalue(), recording.text, recording.duration_s


async def run_jobs(url: str, count: int, body: bytes, text: str) -> tuple[float, list[float]]:
    """(wall seconds from the first submit to the last success, WER % per job)."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        start = time.monotonic()
        ids = []
        for k in range(count):
            files = {"file": (f"call{k}.wav", body, "audio/wav")}
            data = {"model": live.MODEL, "language": "en"}
            response = await http.post("/v1/jobs", files=files, data=data)
            response.raise_for_status()
            ids.append(response.json()["id"])
        pending, wers = set(ids), []
        while pending:
            await asyncio.sleep(POLL_S)
            for job_id in list(pending):
                job = (await http.get(f"/v1/jobs/{job_id}")).json()
                if job["status"] in ("failed", "cancelled"):
                    raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
                if job["status"] == "succeeded":
                    pending.discard(job_id)
                    result = await http.get(f"/v1/jobs/{job_id}?response_format=text")
                    errors, total = word_errors(text, result.text)
                    wers.append(errors / total * 100)
        return time.monotonic() - start, wers


async def beside_calls(
    url: str, tmp: Path, pid: int, calls: int, count: int, body: bytes, text: str, args: Any
) -> tuple[float, list[float], live.Level]:
    pool = live.prompt_pool()
    audios = [live.call_audio(pool, k, args.utterances, args.gap) for k in range(calls)]
    level_task = asyncio.create_task(live.run_level(calls, url, tmp, audios, pid, args.gap))
    await asyncio.sleep(5.0)  # the calls are streaming speech
    wall, wers = await run_jobs(url, count, body, text)
    if level_task.done():
        print("  (the calls ended before the jobs: raise --utterances)", flush=True)
    return wall, wers, await level_task


def report(label: str, wall: float, wers: list[float], audio_s: float) -> None:
    wer = ", ".join(f"{w:.2f}" for w in wers)
    each = audio_s / len(wers)
    rate = audio_s / wall
    row = f"| {label} | {len(wers)} x {each:.0f} s | {wall:.1f} s | {rate:.1f} | {wer} % |"
    print(row, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=4, help="copies of the 300 s recording")
    parser.add_argument("--calls", default="2", help="live calls beside the jobs, per case")
    parser.add_argument("--utterances", type=int, default=24, help="prompts per live call")
    parser.add_argument("--gap", type=float, default=1.5)
    args = parser.parse_args()
    body, text, seconds = wav_bytes()
    audio_s = seconds * args.jobs
    with (
        tempfile.TemporaryDirectory() as name,
        live.server(Path(name), whisper_base_dir()) as (
            proc,
            url,
        ),
    ):
        tmp = Path(name)
        warm = [live.call_audio(live.prompt_pool(), 0, 1, args.gap)]
        asyncio.run(live.run_level(1, url, tmp, warm, proc.pid, args.gap))  # loads the worker
        print("| case | audio | wall | audio hours per hour | WER per job |\n|---|---|---|---|---|")
        wall, wers = asyncio.run(run_jobs(url, args.jobs, body, text))
        report("idle", wall, wers, audio_s)
        for calls in [int(n) for n in args.calls.split(",")]:
            wall, wers, level = asyncio.run(
                beside_calls(url, tmp, proc.pid, calls, args.jobs, body, text, args)
            )
            report(f"beside {calls} live calls", wall, wers, audio_s)
            live.print_level(level)


if __name__ == "__main__":
    main()
