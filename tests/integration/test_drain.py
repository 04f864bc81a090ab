"""The real `mediaserver serve` process: API keys on the wire, SIGTERM drain, forced exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
KEY = "integration-key-7f3a9c"
AUTH = {"Authorization": f"Bearer {KEY}"}

pytestmark = pytest.mark.timeout(60)


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.log = log

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.get(self.url + path, headers=headers, timeout=2.0)

    def wait_exit(self, limit_s: float) -> int:
        return self.process.wait(timeout=limit_s)

    def logs(self) -> str:
        return self.log.read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(tmp_path: Path, **env: str) -> Iterator[Server]:
    port = free_port()
    log = tmp_path / "server.log"
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MEDIASERVER_MODELS_DIR": str(tmp_path / "models"),
        "MEDIASERVER_API_KEYS": KEY,
        "MEDIASERVER_LOGGING__FORMAT": "json",
        "MEDIASERVER_AUDIOSOCKET__ENABLED": "false",  # no fixed port 9092 in tests
        # The drain does not depend on NeMo, whose first grammar build in a fresh models dir
        # takes 10-40 s on a busy 2-core machine.
        "MEDIASERVER_POSTPROCESS__NEMO": "false",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mediaserver",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.logs()}")
        try:
            if server.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server did not come up:\n{server.logs()}")


def _wait_ready_status(server: Server, status: int, limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.get("/ready", headers=AUTH).status_code == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"/ready never answered {status}")


def test_keys_are_checked_on_the_wire_and_never_logged(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        assert server.get("/health").status_code == 200
        assert server.get("/ready").status_code == 200  # probes have no key
        assert server.get("/v1/models").status_code == 401
        assert server.get("/v1/models", headers={"X-API-Key": "wrong-attempt-1"}).status_code == 401
        assert server.get(f"/v1/models?api_key={KEY}").status_code == 401
        assert server.get("/v1/models", headers=AUTH).status_code == 200
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{server.ws_url}/v1/realtime", open_timeout=5).close()
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{server.ws_url}/v1/realtime?api_key=wrong-attempt-2", open_timeout=5)
        assert refused.value.response.status_code == 401
        server.process.send_signal(signal.SIGTERM)
        assert server.wait_exit(10) == 0
    logs = server.logs()
    assert logs.count('"auth.rejected"') == 5
    for secret in (KEY, "wrong-attempt-1", "wrong-attempt-2"):
        assert secret not in logs
    # uvicorn's own line for the refused WebSocket, scrubbed (observability.scrub_event)
    assert "api_key=<redacted>" in logs
    assert "without completing handshake" not in logs


def test_sigterm_drains_then_exits(tmp_path: Path) -> None:
    with serve(tmp_path, MEDIASERVER_SERVER__DRAIN_GRACE_S="1.5") as server:
        _wait_ready_status(server, 200)
        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        _wait_ready_status(server, 503, limit_s=1.0)
        assert server.get("/ready", headers=AUTH).json() == {"status": "draining"}
        assert server.get("/health").status_code == 200  # still alive while draining
        assert server.wait_exit(10) == 0
        elapsed = time.monotonic() - sent
    assert elapsed >= 1.5
    logs = server.logs()
    assert '"server.drain_start"' in logs
    assert '"server.drain_done"' in logs


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_forces_exit(tmp_path: Path, sig: signal.Signals) -> None:
    with serve(tmp_path, MEDIASERVER_SERVER__DRAIN_GRACE_S="60") as server:
        server.process.send_signal(sig)
        _wait_ready_status(server, 503)
        sent = time.monotonic()
        server.process.send_signal(sig)
        assert server.wait_exit(5) == 1
        assert time.monotonic() - sent < 3
    assert '"server.drain_done"' not in server.logs()
