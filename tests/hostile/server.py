"""The real `mediaserver serve` under attack: a subprocess (a crash is a dead process, memory
is its RSS), tiny models, an API key, debug logs captured to a file for the leak checks."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.integration.transcriptions_support import free_port

API_KEY = "hostile-test-key-0123456789"
AUTH = {"authorization": f"Bearer {API_KEY}"}
START_TIMEOUT_S = 60.0
# Small enough that the bomb tests finish in seconds; the defaults are checked on their own.
MAX_AUDIO_S = 600


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            return False
        return httpx.get(f"{self.url}/health", headers=AUTH, timeout=5).status_code == 200

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def server_env(models: Path, port: int, **extra: str) -> dict[str, str]:
    rtp_base = random.randrange(42000, 60000, 100)  # clear of other test runs on this host
    return {
        **os.environ,
        "MEDIASERVER_MODELS_DIR": str(models),
        "MEDIASERVER_API_KEYS": API_KEY,
        "MEDIASERVER_SERVER__HOST": "127.0.0.1",
        "MEDIASERVER_SERVER__PORT": str(port),
        "MEDIASERVER_SERVER__MAX_AUDIO_DURATION_S": str(MAX_AUDIO_S),
        "MEDIASERVER_RTP__PORT_MIN": str(rtp_base),
        "MEDIASERVER_RTP__PORT_MAX": str(rtp_base + 20),
        "MEDIASERVER_AUDIOSOCKET__ENABLED": "false",
        "MEDIASERVER_MODELS__AUTO_UNLOAD_S": "0",
        "MEDIASERVER_MODELS__DEFAULT_STT": "tiny-whisper",
        "MEDIASERVER_POSTPROCESS__NEMO": "false",
        "MEDIASERVER_LOGGING__LEVEL": "debug",
        "MEDIASERVER_LOGGING__FORMAT": "json",
        **extra,
    }


@contextlib.contextmanager
def serve(models: Path, log: Path, **extra: str) -> Iterator[Server]:
    port = free_port()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mediaserver", "serve", "--port", str(port)],
            env=server_env(models, port, **extra),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", port, proc, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"server exited: {server.log_text()[-2000:]}"
            assert time.monotonic() < deadline, "server did not become ready"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server.url}/ready", headers=AUTH, timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield server
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def raw_exchange(port: int, requests: list[bytes], timeout: float = 30) -> list[bytes]:
    """Send each request on ONE connection, reading each response fully: proves keep-alive."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        reader = sock.makefile("rb")
        for request in requests:
            sock.sendall(request)
            answers.append(_read_response(reader))
    return answers


def _read_response(reader: object) -> bytes:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = reader.read(1)  # type: ignore[attr-defined]
        if not byte:
            raise ConnectionError(f"connection closed mid-response after {head!r}")
        head += byte
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body: bytes = reader.read(length)  # type: ignore[attr-defined]
    return head + body


def http_request(
    method: str, path: str, body: bytes, content_type: str = "application/json"
) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
