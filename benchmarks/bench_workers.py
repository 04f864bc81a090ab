"""Worker supervision latencies with the scripted engine (no model weights needed).

    python -m benchmarks.bench_workers [ROUNDS]

Prints, over ROUNDS rounds: cold start (first request spawns the worker, until loaded),
stream round trip (one 200 ms chunk), crash detection (SIGKILL to WorkerCrashed on a pending
read), restart (SIGKILL to the next stream served) and cancellation (task.cancel() until the
engine stops). Run from the repository root.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import structlog

from mediaserver.engines.base import TranscribeOptions
from mediaserver.engines.errors import WorkerCrashed
from mediaserver.engines.supervision.spec import SupervisorOptions, WorkerSpec
from mediaserver.engines.supervision.supervisor import Supervisor
from tests.fake_engine import read_events, write_script

OPTIONS = TranscribeOptions()
CHUNK = np.zeros(3200, dtype=np.float32)


async def one_round(root: Path) -> dict[str, float]:
    events = root / "events.jsonl"
    spec = WorkerSpec(
        model="m",
        engine="tests.fake_engine:FakeEngine",
        model_dir=write_script(root / "m", rtf=20.0, step_s=0.005, events=str(events)),
    )
    out: dict[str, float] = {}
    options = SupervisorOptions(auto_unload_s=0, backoff_initial_s=0.05)
    async with Supervisor(lambda _: spec, options) as sup:
        t = time.monotonic()
        await sup.load("m")
        out["cold start"] = time.monotonic() - t
        async with sup.stream("m", OPTIONS) as stream:
            t = time.monotonic()
            await stream.accept(CHUNK)
            out["stream chunk round trip"] = time.monotonic() - t
            pid = sup.workers()[0].pid
            assert pid is not None
            pending = asyncio.create_task(stream.read())
            await asyncio.sleep(0.01)
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            try:
                await pending
            except WorkerCrashed:
                out["crash detected"] = time.monotonic() - killed
        async with sup.stream("m", OPTIONS) as stream:
            await stream.accept(CHUNK)
            out["kill to next stream served"] = time.monotonic() - killed
        started = asyncio.Event()
        task = asyncio.create_task(
            sup.transcribe_file(
                "m", np.zeros(32000, np.float32), OPTIONS, progress=lambda d, t: started.set()
            )
        )
        await started.wait()
        t = time.monotonic()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for _ in range(100):
            seen = [e["t"] for e in read_events(events) if e["event"] == "cancelled"]
            if seen:
                out["cancel reaches engine"] = seen[0] - t
                break
            await asyncio.sleep(0.01)
    return out


async def main(rounds: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    results: dict[str, list[float]] = {}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            for name, value in (await one_round(Path(tmp))).items():
                results.setdefault(name, []).append(value)
    for name, values in results.items():
        print(
            f"{name:28s} median {statistics.median(values) * 1000:8.1f} ms"
            f"   max {max(values) * 1000:8.1f} ms   (n={len(values)})"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
