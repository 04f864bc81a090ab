"""Cost of the call core per call as calls grow: CallCore + one batched VAD step per tick.

    python benchmarks/calls_bench.py [--calls 1 10 50 100] [--seconds 10] [--repeats 3] [--shell]

Each call gets 8 kHz telephone audio in 20 ms frames (pt-BR espeak-ng speech and pauses,
half the time talking; loud noise without espeak-ng), fed in lockstep as the server does:
every call's frame, then one `VadBatcher.run` over all calls, then every call's `vad_done`.
Prints the median over repeats of CPU µs per call per 20 ms of audio, and the real-time load
of one core (100% = one core fully busy), so the batching gain reads directly.

`--shell` measures the same through the asyncio shell (`CallManager`, `Call.feed`, the VAD
ticker, event hubs with one subscriber per call, no STT model): what a server pays per call
before speech recognition.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediaserver.audio.silero import SileroModel
from mediaserver.audio.vad import VadBatcher
from mediaserver.calls.manager import CallManager, Transport, TransportInfo
from mediaserver.calls.postprocess import PassThrough
from mediaserver.calls.recognizers import SpeechRecognizer
from mediaserver.config import Settings
from mediaserver.engines.base import ModelNotFoundError
from mediaserver.observability import Metrics
from mediaserver.session.call_core import CallCore
from mediaserver.session.call_options import parse_call_options

RATE = 8000
FRAME = RATE // 50


def conversation(seconds: float) -> tuple[np.ndarray, str]:
    n = int(seconds * RATE)
    if shutil.which("espeak-ng") is None:
        rng = np.random.default_rng(0)
        return (rng.standard_normal(n) * 3000).astype(np.int16), "loud noise"
    text = "Bom dia, eu gostaria de consultar o saldo da minha conta e fazer um pix"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "pt-br", "-w", str(path), text], check=True)
        with wave.open(str(path)) as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            rate = w.getframerate()
    voice = soxr.resample(pcm, rate, RATE)
    turn = np.concatenate([voice, np.zeros(len(voice), np.int16)])
    return np.resize(turn, n), "espeak-ng pt-BR speech and pauses"


def run(calls: int, audio: np.ndarray, batcher: VadBatcher) -> float:
    """CPU seconds to process `audio` on `calls` calls in lockstep."""
    options = parse_call_options({}, Settings())
    # Calls start at different points of the conversation, as real calls would.
    offsets = [(i * 7919 * FRAME) % len(audio) for i in range(calls)]
    streams = [np.roll(audio, -offset) for offset in offsets]
    cores = [CallCore(f"c{i}", options, 0.0) for i in range(calls)]
    frames = len(audio) // FRAME
    started = time.process_time()
    for f in range(frames):
        now = (f + 1) * 0.02
        for core, pcm in zip(cores, streams, strict=True):
            core.feed(pcm[f * FRAME : (f + 1) * FRAME], RATE, now)
        batcher.run(core.vad for core in cores)
        for core in cores:
            core.vad_done(now)
    return time.process_time() - started


class _NoModel:
    """No STT model installed: calls run VAD, states and events only."""

    async def get(self, model: str) -> SpeechRecognizer:
        raise ModelNotFoundError(model)

    async def aclose(self) -> None:
        return None


async def run_shell(calls: int, audio: np.ndarray, model: SileroModel) -> float:
    """CPU seconds for `calls` calls through CallManager, fed as fast as the loop goes."""
    manager = CallManager(Settings(), Metrics(), _NoModel(), PassThrough(), vad_model=model)
    await manager.start()
    live = [manager.create(Transport.RTP, {}, TransportInfo()) for _ in range(calls)]
    subs = [call.subscribe() for call in live]
    offsets = [(i * 7919 * FRAME) % len(audio) for i in range(calls)]
    frames = [np.roll(audio, -o).tobytes() for o in offsets]
    step = FRAME * 2
    started = time.process_time()
    for f in range(len(audio) // FRAME):
        for call, pcm in zip(live, frames, strict=True):
            call.feed(pcm[f * step : (f + 1) * step], RATE)
        for sub in subs:
            while sub.get_nowait() is not None:
                pass
        if f % 5 == 4:
            await asyncio.sleep(0.02)  # let the ticker run, as 100 ms of real time would
    cpu = time.process_time() - started
    await manager.stop(drain_s=10)
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 10, 50, 100])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shell", action="store_true", help="through CallManager (asyncio)")
    args = parser.parse_args()
    audio, kind = conversation(args.seconds)
    model = SileroModel()
    batcher = VadBatcher(model)
    frames = len(audio) // FRAME
    mode = "asyncio shell (CallManager)" if args.shell else "pure CallCore + VadBatcher"
    print(f"{mode}; audio: {kind}, {args.seconds:g} s at {RATE} Hz per call, 20 ms frames")
    print(f"{'calls':>6} {'us/call/frame':>14} {'core load':>10}")
    for calls in args.calls:
        if args.shell:
            times = [asyncio.run(run_shell(calls, audio, model)) for _ in range(args.repeats)]
        else:
            times = [run(calls, audio, batcher) for _ in range(args.repeats)]
        cpu = statistics.median(times)
        per_frame = cpu / (calls * frames) * 1e6
        load = cpu / args.seconds * 100
        print(f"{calls:>6} {per_frame:>14.1f} {load:>9.1f}%")


if __name__ == "__main__":
    main()
