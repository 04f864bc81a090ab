"""N concurrent G.711 calls over real UDP on loopback, through the whole server pipeline.

Setup (all on this machine):
- the server runs as `python -m mediaserver serve` (uvloop) in a subprocess, so its CPU time is
  read from /proc/<pid>/stat alone; denoise is off (the default);
- the RTP sender is a second subprocess of this script (`--sender`): one UDP socket per call,
  packet n of call c sent at t0 + phase_c + n * 20 ms (deadline pacing, phases spread over
  the 20 ms so packets do not all arrive in one burst);
- this process creates the calls (POST /v1/calls), subscribes to every call's events
  (WebSocket) and reads the counters (GET /v1/calls/{id}).

Every call plays the same loop: espeak-ng pt-BR speech between silences; each call starts at
a different point of the loop. Figures per N, measured over the steady part of the run:
- server CPU per call (% of one core) and in total;
- event lag: arrival of `vad.speech_end` (at this script) minus the moment the sender sent
  the packet carrying the sample at "end of speech in the audio + vad.min_silence_ms". End
  of speech is the end of the last 10 ms frame of the espeak phrase above -40 dBFS; adding
  min_silence_ms (a configured wait: the call asked to hear that much silence first) gives
  the first sample from which any VAD could decide that speech ended, and the server can
  have that sample no earlier than the packet carrying it was sent (loopback adds ~0.1 ms).
  So the lag is everything between "the deciding audio is on the wire" and "the client has
  the event": the jitter buffer's playout delay (rtp.jitter_delay_ms, 60 ms, the other
  configured wait), resampling, the VAD's 32 ms chunks and its model's own reaction, the
  batching tick, the event fan-out and the WebSocket. "Lag under 100 ms" is judged on what
  the server adds beyond both configured waits: p95 lag - 60 ms;
- packets lost at the server (sum of the calls' `packets_lost`, plus the kernel's UDP receive
  buffer drops from /proc/net/snmp).
Without an STT model installed the engines are not exercised (calls run VAD, the state machine
and the event fan-out); that is what this measures.

    python benchmarks/rtp_load.py                  # N = 50, 100, 200, 400
    python benchmarks/rtp_load.py --calls 10,20 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soxr
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mediaserver.codecs.g711 import ulaw_encode  # noqa: E402
from mediaserver.codecs.rtp import RtpPacket  # noqa: E402

RATE = 8000
FRAME = 160
PTIME = 0.02
MIN_SILENCE_MS = 500
SPEECH_PAD_MS = 200
JITTER_MS = 60  # rtp.jitter_delay_ms, the server default
VAD_OPTIONS = {"min_silence_ms": MIN_SILENCE_MS, "speech_pad_ms": SPEECH_PAD_MS}
PHRASE = "Bom dia, eu gostaria de saber o saldo da minha conta corrente, por favor."
CLK_TCK = os.sysconf("SC_CLK_TCK")
GROUPS = 4  # the sender sends a quarter of the calls every 5 ms


# -- audio ----------------------------------------------------------------------------------


def speech_loop(tmp: Path) -> tuple[np.ndarray, list[float]]:
    """One loop of the call audio (int16, 8 kHz, whole packets) and where speech ends (ms)."""
    wav_path = tmp / "phrase.wav"
    subprocess.run(["espeak-ng", "-v", "pt-br", "-w", str(wav_path), PHRASE], check=True)
    with wave.open(str(wav_path), "rb") as wav:
        rate = wav.getframerate()
        raw = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    speech = soxr.resample(raw.astype(np.float32) / 32768.0, rate, RATE)
    speech = np.clip(speech * 32767, -32768, 32767).astype(np.int16)
    lead = np.zeros(int(0.8 * RATE), dtype=np.int16)
    tail = np.zeros(int(1.6 * RATE), dtype=np.int16)
    audio = np.concatenate([lead, speech, tail])
    audio = np.concatenate([audio, np.zeros(-len(audio) % FRAME, dtype=np.int16)])
    frame = RATE // 100
    levels = [
        np.sqrt(np.mean((speech[i : i + frame].astype(np.float64) / 32768) ** 2))
        for i in range(0, len(speech) - frame, frame)
    ]
    loud = [i for i, level in enumerate(levels) if level > 0.01]
    speech_end_ms = len(lead) * 1000 / RATE + (loud[-1] + 1) * 10
    return audio, [speech_end_ms]


# -- sender subprocess ----------------------------------------------------------------------


def run_sender(args: argparse.Namespace) -> None:
    """Send every call's loop, paced on deadlines; print lateness figures as JSON."""
    audio = np.load(args.audio)
    ports = [int(p) for p in args.ports.split(",")]
    payloads = [
        ulaw_encode(audio[i * FRAME : (i + 1) * FRAME].astype("<i2").tobytes())
        for i in range(len(audio) // FRAME)
    ]
    loop_packets = len(payloads)
    calls = []
    for index, port in enumerate(ports):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        offset = (index * 37) % loop_packets  # where in the loop this call starts
        calls.append((sock, ("127.0.0.1", port), offset, random.getrandbits(32)))
    groups = GROUPS
    t0 = args.t0
    total = int(args.seconds / PTIME)
    worst_late = 0.0
    late_sum = 0.0
    sent = 0
    for n in range(total):
        for g in range(groups):
            deadline = t0 + n * PTIME + g * PTIME / groups
            delay = deadline - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                worst_late = max(worst_late, -delay)
                late_sum += -delay
            for sock, target, offset, ssrc in calls[g::groups]:
                k = n + offset
                packet = RtpPacket(0, k & 0xFFFF, (k * FRAME) & 0xFFFFFFFF, ssrc, n == 0)
                packet.payload = payloads[k % loop_packets]
                sock.sendto(bytes(packet), target)
                sent += 1
    print(
        json.dumps(
            {
                "sent": sent,
                "worst_late_ms": worst_late * 1000,
                "mean_late_ms": late_sum / (total * groups) * 1000,
                "cpu_percent": time.process_time() / args.seconds * 100,
            }
        )
    )


# -- server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server_process(tmp: Path, http_port: int, rtp_range: tuple[int, int]) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASERVER_")}
    env.update(
        MEDIASERVER_MODELS_DIR=str(tmp / "models"),
        MEDIASERVER_RTP__PORT_MIN=str(rtp_range[0]),
        MEDIASERVER_RTP__PORT_MAX=str(rtp_range[1]),
        MEDIASERVER_LOGGING__LEVEL="warning",
        # No STT model means no finals, so ITN never runs; building its NeMo grammars at
        # start-up would only steal the first level's CPU.
        MEDIASERVER_POSTPROCESS__NEMO="false",
        # Not measured here; its fixed port would clash with another server on the machine.
        MEDIASERVER_AUDIOSOCKET__ENABLED="false",
    )
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediaserver", "serve", "--port", str(http_port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError((tmp / "server.log").read_text()[-2000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{http_port}/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield proc
    except BaseException:
        log.flush()
        print((tmp / "server.log").read_text()[-4000:], file=sys.stderr)  # why it failed
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def udp_rcvbuf_errors() -> int:
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    udp = [line for line in lines if line[0] == "Udp:"]
    return int(udp[1][udp[0].index("RcvbufErrors")])


# -- one run ----------------------------------------------------------------------------------


@dataclass
class Result:
    calls: int
    cpu_total: float = 0.0  # % of one core
    lags_ms: list[float] = field(default_factory=list)
    decision_ms: list[float] = field(default_factory=list)
    lost: int = 0
    kernel_drops: int = 0
    received: int = 0
    sender: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # error events by code
    client_cpu: float = 0.0  # this process (calls, event subscribers), % of one core
    load: float = 0.0  # the machine's 1-minute load average during the run

    @property
    def cpu_per_call(self) -> float:
        return self.cpu_total / self.calls

    def lag(self, q: float) -> float:
        if not self.lags_ms:
            return float("nan")
        return float(np.percentile(self.lags_ms, q))

    def decision(self, q: float) -> float:
        if not self.decision_ms:
            return float("nan")
        return float(np.percentile(self.decision_ms, q))


async def watch(url: str, out: list[tuple[float, dict[str, Any]]], ready: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    async with websockets.connect(url, open_timeout=30, max_queue=None) as ws:
        ready.set()
        async for message in ws:
            item = json.loads(message)
            out.append((loop.time(), item))
            if item["type"] == "session.closed":
                return


@dataclass
class Audio:
    """The looped call audio as the sender plays it."""

    file: Path
    speech_ends: list[float]  # ms into the loop
    loop_ms: float


async def run_level(n: int, seconds: float, base: str, audio: Audio, pid: int) -> Result:
    result = Result(n)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        ids, ports = await _open_calls(http, n)
        logs: list[list[tuple[float, dict[str, Any]]]] = [[] for _ in ids]
        readies = [asyncio.Event() for _ in ids]
        ws_base = base.replace("http://", "ws://")
        watchers = [
            asyncio.create_task(watch(f"{ws_base}/v1/calls/{i}/events", logs[k], readies[k]))
            for k, i in enumerate(ids)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
        t0 = time.monotonic() + 1.0
        sender = await asyncio.create_subprocess_exec(
            *(sys.executable, __file__, "--sender", "--audio", str(audio.file)),
            *("--ports", ",".join(map(str, ports)), "--seconds", str(seconds), "--t0", str(t0)),
            stdout=asyncio.subprocess.PIPE,
        )
        await _measure(result, seconds, t0, pid)
        stdout, _ = await sender.communicate()
        result.sender = json.loads(stdout)
        for call_id in ids:
            stats = (await http.get(f"/v1/calls/{call_id}")).json()["stats"]
            result.lost += int(stats["packets_lost"])
            result.received += int(stats["packets_received"])
        await asyncio.gather(*(http.delete(f"/v1/calls/{i}") for i in ids))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*watchers, return_exceptions=True), 30)
    for k, log in enumerate(logs):
        _collect(result, log, k, t0, audio)
    return result


async def _open_calls(http: httpx.AsyncClient, n: int) -> tuple[list[str], list[int]]:
    ids, ports = [], []
    for _ in range(n):
        body = {"codec": "PCMU", "language": "pt", "vad": VAD_OPTIONS}
        r = await http.post("/v1/calls", json=body)
        r.raise_for_status()
        ids.append(r.json()["id"])
        ports.append(r.json()["rtp"]["port"])
    return ids, ports


async def _measure(result: Result, seconds: float, t0: float, pid: int) -> None:
    """CPU, load and kernel drops over the steady window: from 3 s after the start (latching,
    first speech) to 1 s before the end."""
    await asyncio.sleep(max(0.0, t0 - time.monotonic()) + 3.0)
    cpu0, w0, drops0 = cpu_seconds(pid), time.monotonic(), udp_rcvbuf_errors()
    load0, own0 = os.getloadavg()[0], time.process_time()
    await asyncio.sleep(seconds - 4.0)
    cpu1, w1 = cpu_seconds(pid), time.monotonic()
    result.cpu_total = (cpu1 - cpu0) / (w1 - w0) * 100
    result.client_cpu = (time.process_time() - own0) / (w1 - w0) * 100
    result.load = max(load0, os.getloadavg()[0])
    result.kernel_drops = udp_rcvbuf_errors() - drops0


def _collect(
    result: Result, log: list[tuple[float, dict[str, Any]]], k: int, t0: float, audio: Audio
) -> None:
    """Error codes and speech_end lags from call number ``k``'s events."""
    offset_ms = ((k * 37) % int(audio.loop_ms / 20)) * 20
    start = t0 + (k % GROUPS) * PTIME / GROUPS  # when this call's packet 0 left
    for received, item in log:
        if item["type"] == "error":
            result.errors[item["code"]] = result.errors.get(item["code"], 0) + 1
        if item["type"] != "vad.speech_end":
            continue
        lag = _lag_ms(
            item["audio_ms"], received, start, offset_ms, audio.speech_ends, audio.loop_ms
        )
        if lag is not None:
            result.lags_ms.append(lag)
        # Against the VAD's own verdict: its silence began at audio_ms - speech_pad_ms.
        decided = item["audio_ms"] - SPEECH_PAD_MS + MIN_SILENCE_MS
        result.decision_ms.append((received - start - _sent_ms(decided) / 1000) * 1000)


def _sent_ms(call_ms: float) -> float:
    """When the packet carrying the call's audio at `call_ms` left, after its first packet:
    packet n holds [20 n, 20 n + 20) ms and is sent 20 n ms after packet 0."""
    return call_ms // (PTIME * 1000) * (PTIME * 1000)


def _lag_ms(
    audio_ms: float,
    received: float,
    t0: float,
    offset_ms: float,
    speech_ends: list[float],
    loop_ms: float,
) -> float | None:
    """Lag of one speech_end against the nearest known end of speech in the call's audio."""
    position = audio_ms + offset_ms  # in the looped audio as the sender walked it
    best = None
    for k in range(int(position // loop_ms) - 1, int(position // loop_ms) + 2):
        for end in speech_ends:
            known = k * loop_ms + end
            if best is None or abs(known - position) < abs(best - position):
                best = known
    if best is None or abs(best - position) > 1000:
        return None
    sent_at = t0 + _sent_ms(best - offset_ms + MIN_SILENCE_MS) / 1000
    return (received - sent_at) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", default="50,100,200,400")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--audio", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        run_sender(args)
        return
    levels = [int(n) for n in args.calls.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        samples, ends = speech_loop(tmp)
        np.save(tmp / "loop.npy", samples)
        audio = Audio(tmp / "loop.npy", ends, len(samples) * 1000 / RATE)
        http_port = free_port()
        base = random.randrange(40000, 60000 - max(levels) - 10)
        results = []
        with server_process(tmp, http_port, (base, base + max(levels) + 9)) as proc:
            for n in levels:
                url = f"http://127.0.0.1:{http_port}"
                result = asyncio.run(run_level(n, args.seconds, url, audio, proc.pid))
                results.append(result)
                print_row(result)
                time.sleep(2.0)
    print_summary(results)


def print_row(r: Result) -> None:
    print(
        f"N={r.calls:4d}  server CPU {r.cpu_total:6.1f}% ({r.cpu_per_call:5.2f}%/call)  "
        f"lag p50 {r.lag(50):6.1f} ms p95 {r.lag(95):6.1f} ms max {r.lag(100):6.1f} ms "
        f"({len(r.lags_ms)} ends; after the VAD's own end: p50 {r.decision(50):.0f} ms)  "
        f"lost {r.lost} / {r.received} (+{r.kernel_drops} kernel)  "
        f"sender late max {r.sender.get('worst_late_ms', 0):.1f} ms, "
        f"CPU {r.sender.get('cpu_percent', 0):.0f}%  client CPU {r.client_cpu:.0f}%  "
        f"load {r.load:.1f}  error events {r.errors or 'none'}",
        flush=True,
    )


def print_summary(results: list[Result]) -> None:
    print(
        "\n| N | server CPU | per call | lag p50 | lag p95 | lost at server | kernel drops "
        "| sender CPU | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    held = 0
    for r in results:
        print(
            f"| {r.calls} | {r.cpu_total:.0f} % | {r.cpu_per_call:.2f} % | {r.lag(50):.0f} ms | "
            f"{r.lag(95):.0f} ms | {r.lost} | {r.kernel_drops} | "
            f"{r.sender.get('cpu_percent', 0):.0f} % | {r.load:.1f} |"
        )
        # The jitter buffer's playout delay is a configured wait like min_silence_ms: the
        # 100 ms budget is for what the server adds on top of both.
        if r.lost == 0 and r.kernel_drops == 0 and r.lags_ms and r.lag(95) - JITTER_MS < 100:
            held = max(held, r.calls)
    print(
        f"\nlargest N with zero loss and p95 lag under 100 ms beyond the {JITTER_MS} ms jitter "
        f"delay: {held or 'none'}"
    )


if __name__ == "__main__":
    main()
