"""Headless Chromium as a WebRTC peer, driven over the DevTools protocol; speech files for it.

Chromium plays a WAV file as its microphone (looping it) with the flags from OFFLINE_STACK.md;
`Chromium.evaluate` runs JavaScript in the page. Also: the server under test on a free loopback
port inside the test's event loop, and a small energy-based segmenter that finds where speech is
in a PCM buffer (applied the same way to what was sent and what arrived).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import wave
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soxr
import uvicorn
import websockets
from starlette.applications import Starlette

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ESPEAK = shutil.which("espeak-ng")
FRAME_MS = 20


def have_chromium() -> bool:
    return Path(CHROMIUM).exists()


@dataclass(frozen=True)
class SpeechFile:
    path: Path
    rate: int
    samples: np.ndarray[Any, np.dtype[np.int16]]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate

    def runs(self, rate: int) -> list[tuple[float, float]]:
        """Voiced runs (seconds from the start) of the file band-limited as a `rate` codec
        carries it: at 8 kHz the fricatives above 4 kHz are gone, and so are their frames."""
        audio = soxr.resample(self.samples, self.rate, rate).astype("<i2")
        return voiced_runs(audio.tobytes(), rate)


def speech_wav(
    path: Path, phrases: Sequence[str], *, gap_s: float, rate: int = 48000
) -> SpeechFile:
    """espeak-ng pt-BR phrases separated (and surrounded) by `gap_s` of digital silence."""
    assert ESPEAK is not None
    silence = np.zeros(int(gap_s * rate), dtype=np.int16)
    parts = [silence]
    for i, text in enumerate(phrases):
        raw = path.with_name(f"{path.stem}-{i}.wav")
        subprocess.run([ESPEAK, "-v", "pt-br", "-w", str(raw), text], check=True, timeout=30)
        with wave.open(str(raw)) as w:
            source_rate = w.getframerate()
            speech = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        parts += [soxr.resample(speech, source_rate, rate).astype(np.int16), silence]
    audio = np.concatenate(parts)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(audio.astype("<i2").tobytes())
    return SpeechFile(path, rate, audio)


def voiced_runs(pcm: bytes, rate: int, *, bridge_ms: int = 400) -> list[tuple[float, float]]:
    """(start_s, end_s) of runs of 20 ms frames above -40 dBFS; gaps up to `bridge_ms` joined."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    step = rate * FRAME_MS // 1000
    frames = samples[: len(samples) // step * step].reshape(-1, step)
    voiced = np.sqrt(np.mean(frames**2, axis=1)) > 32768 * 10 ** (-40 / 20)
    runs: list[list[int]] = []
    for i in np.flatnonzero(voiced):
        if runs and (i - runs[-1][1]) * FRAME_MS <= bridge_ms:
            runs[-1][1] = int(i) + 1
        else:
            runs.append([int(i), int(i) + 1])
    return [(a * FRAME_MS / 1000, b * FRAME_MS / 1000) for a, b in runs]


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Run `app` with uvicorn on 127.0.0.1 (free port); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await task
        sock.close()


def _devtools_port(active_port: Path) -> int | None:
    """Chromium writes its DevTools port (and browser socket path) here once it listens."""
    try:
        lines = active_port.read_text().split()
    except FileNotFoundError:
        return None
    return int(lines[0]) if len(lines) >= 2 else None


class Chromium:
    """One headless Chromium with one page, reachable over the DevTools protocol."""

    def __init__(self, process: asyncio.subprocess.Process, page_ws: str) -> None:
        self.process = process
        self._page_ws = page_ws
        self._ids = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, microphone: Path, profile: Path) -> AsyncIterator[Chromium]:
        args = [
            "--headless=new", "--no-sandbox", "--disable-gpu",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}",  # tmp_path: absolute
            "--autoplay-policy=no-user-gesture-required",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--remote-debugging-port=0", f"--user-data-dir={profile}", url,
        ]  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            CHROMIUM, *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            page_ws = await cls._page_socket(profile / "DevToolsActivePort")
            yield cls(process, page_ws)
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    async with asyncio.timeout(10):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()

    @staticmethod
    async def _page_socket(active_port: Path) -> str:
        async with asyncio.timeout(30):
            while (port := _devtools_port(active_port)) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            async with httpx.AsyncClient() as http:
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                        pages = [t for t in targets if t.get("type") == "page"]
                        if pages:
                            return str(pages[0]["webSocketDebuggerUrl"])
                    await asyncio.sleep(0.1)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        self._ids += 1
        request = {
            "id": self._ids,
            "method": "Runtime.evaluate",
            "params": {"expression": expression, "returnByValue": True, "awaitPromise": True},
        }
        async with websockets.connect(self._page_ws, max_size=None) as ws:
            await ws.send(json.dumps(request))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == self._ids:
                    break
        if "exceptionDetails" in reply.get("result", {}):
            raise RuntimeError(f"page raised: {reply['result']['exceptionDetails']}")
        return reply["result"]["result"].get("value")

    async def events(self) -> list[dict[str, Any]]:
        value = await self.evaluate("JSON.stringify(window.mediaserverEvents || [])")
        events: list[dict[str, Any]] = json.loads(value)
        return events
