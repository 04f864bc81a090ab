"""Real peers for the RTP end-to-end tests: the server as a subprocess, speech from espeak-ng,
ffmpeg as a G.711 sender, a scripted RTP sender with network impairments, an events client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soxr
import websockets

from mediaserver.codecs.dtmf import TelephoneEvent
from mediaserver.codecs.g711 import ulaw_encode
from mediaserver.codecs.rtp import RtpPacket

ROOT = Path(__file__).resolve().parents[2]
RATE = 8000
FRAME = 160  # samples per 20 ms packet


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """`python -m mediaserver serve` on a free port with its own RTP port range."""

    process: subprocess.Popen[bytes]
    port: int
    rtp_range: tuple[int, int]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def run_server(tmp: Path, **env_overrides: str) -> Iterator[Server]:
    port = free_tcp_port()
    base = random.randrange(42000, 48000)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MEDIASERVER_")},
        "MEDIASERVER_MODELS_DIR": str(tmp / "models"),
        "MEDIASERVER_RTP__PORT_MIN": str(base),
        "MEDIASERVER_RTP__PORT_MAX": str(base + 99),
        "MEDIASERVER_LOGGING__FORMAT": "json",
        "MEDIASERVER_AUDIOSOCKET__ENABLED": "false",  # no fixed port 9092 in tests
        # Building the NeMo ITN grammars at start-up holds the GIL for seconds on this box and
        # starves the event loop; these tests are about media, not ITN (no STT model anyway).
        "MEDIASERVER_POSTPROCESS__NEMO": "false",
        # No STT model is installed: calls that name none get none (a missing one is refused).
        "MEDIASERVER_MODELS__DEFAULT_STT": "",
        "XDG_CACHE_HOME": str(tmp / "cache"),
        **env_overrides,
    }
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mediaserver", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, (base, base + 99), log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/ready", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout} s: {server.log.read_text()[-3000:]}")


# -- audio ------------------------------------------------------------------------------------


def espeak(text: str, path: Path) -> np.ndarray:
    """pt-BR speech from espeak-ng, as int16 at 8 kHz."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed")
    subprocess.run(["espeak-ng", "-v", "pt-br", "-w", str(path), text], check=True, timeout=60)
    import wave

    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    resampled = soxr.resample(data.astype(np.float32) / 32768.0, rate, RATE)
    return np.clip(resampled * 32767.0, -32768, 32767).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def tones(seconds: float) -> np.ndarray:
    """Hold music: a melody of notes with harmonics and a soft envelope (not speech)."""
    notes = [392.0, 440.0, 494.0, 523.0, 587.0, 523.0, 494.0, 440.0]
    note_len = int(0.4 * RATE)
    t = np.arange(note_len) / RATE
    env = np.minimum(1.0, np.minimum(t / 0.02, (t[-1] - t) / 0.05 + 0.01))
    parts = []
    for i in range(int(seconds / 0.4) + 1):
        f = notes[i % len(notes)]
        wave_ = np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)
        parts.append(0.25 * env * wave_)
    audio = np.concatenate(parts)[: int(seconds * RATE)]
    return (audio * 32767).astype(np.int16)


def voiced_span(samples: np.ndarray, threshold_db: float = -40.0) -> tuple[float, float]:
    """(first, last) time in ms where 10 ms frames are louder than `threshold_db` dBFS."""
    frame = RATE // 100
    n = len(samples) // frame
    frames = samples[: n * frame].astype(np.float64).reshape(n, frame) / 32768.0
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.flatnonzero(level > threshold_db)
    return float(loud[0] * 10), float((loud[-1] + 1) * 10)


@dataclass
class Timeline:
    """Audio built piece by piece, remembering where each speech piece lies (ms)."""

    parts: list[np.ndarray] = field(default_factory=list)
    speech: list[tuple[float, float]] = field(default_factory=list)

    @property
    def ms(self) -> float:
        return sum(len(p) for p in self.parts) * 1000 / RATE

    def add(self, samples: np.ndarray, *, is_speech: bool = False) -> None:
        if is_speech:
            first, last = voiced_span(samples)
            self.speech.append((self.ms + first, self.ms + last))
        self.parts.append(samples)

    def pcm(self) -> np.ndarray:
        audio = np.concatenate(self.parts)
        return np.concatenate([audio, np.zeros(-len(audio) % FRAME, dtype=np.int16)])

    def write_wav(self, path: Path) -> None:
        import wave

        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(RATE)
            wav.writeframes(self.pcm().astype("<i2").tobytes())


# -- senders ----------------------------------------------------------------------------------


def ffmpeg_send(wav: Path, port: int) -> subprocess.Popen[bytes]:
    """ffmpeg sending the file as PCMU RTP in real time, clean 20 ms packets."""
    return subprocess.Popen(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-i",
            str(wav),
            "-af",
            "aresample=8000,asetnsamples=n=160:p=0,arealtime",
            "-ac",
            "1",
            "-c:a",
            "pcm_mulaw",
            "-f",
            "rtp",
            f"rtp://127.0.0.1:{port}?pkt_size=172",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def g711_packets(pcm: np.ndarray, *, ssrc: int, sequence: int, timestamp: int) -> list[bytes]:
    out = []
    for i in range(len(pcm) // FRAME):
        payload = ulaw_encode(pcm[i * FRAME : (i + 1) * FRAME].astype("<i2").tobytes())
        stamp = (timestamp + i * FRAME) & 0xFFFFFFFF
        packet = RtpPacket(0, (sequence + i) & 0xFFFF, stamp, ssrc, i == 0)
        packet.payload = payload
        out.append(bytes(packet))
    return out


def dtmf_burst(
    event: int, *, ssrc: int, sequence: int, timestamp: int, packets: int = 5
) -> list[bytes]:
    """An RFC 4733 key press lasting `packets` x 20 ms, then its three end packets."""
    out = []
    timestamp &= 0xFFFFFFFF
    for i in range(packets + 3):
        end = i >= packets
        body = bytes(TelephoneEvent(event, end, 10, FRAME * min(i + 1, packets)))
        out.append(
            bytes(RtpPacket(101, (sequence + i) & 0xFFFF, timestamp, ssrc, i == 0, payload=body))
        )
    return out


async def send_paced(
    sock: socket.socket,
    port: int,
    slots: list[list[bytes]],
    extra: dict[int, list[tuple[socket.socket, bytes]]] | None = None,
) -> None:
    """Send `slots[n]` (zero or more datagrams) at start + n * 20 ms; `extra[n]` are
    (socket, datagram) pairs sent in the same slot from other sockets."""
    loop = asyncio.get_running_loop()
    target = ("127.0.0.1", port)
    start = loop.time()
    for n, datagrams in enumerate(slots):
        delay = start + n * 0.02 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        for datagram in datagrams:
            sock.sendto(datagram, target)
        for other, datagram in (extra or {}).get(n, []):
            other.sendto(datagram, target)


# -- events -----------------------------------------------------------------------------------


class EventLog:
    """Collects a call's events from its WebSocket until `session.closed`."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self.opened = asyncio.Event()

    async def run(self, url: str) -> None:
        async with websockets.connect(url, open_timeout=10) as ws:
            self.opened.set()
            async for message in ws:
                item = json.loads(message)
                item["_received"] = asyncio.get_running_loop().time()
                self.events.append(item)
                if item["type"] == "session.closed":
                    self.closed.set()
                    return

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]
