"""`mediaserver events CALL_ID` against the real server: a live call's events as JSON lines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mediaserver.calls.types import Transport, TransportInfo
from mediaserver.cli import main
from mediaserver.config import Settings
from tests.e2e.live_server import free_port, live_server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDIASERVER_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("MEDIASERVER_API_KEYS", raising=False)


async def _subscribed(url: str, call_id: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(500):
            detail = (await client.get(f"{url}/v1/calls/{call_id}")).json()
            if detail["subscribers"] == 1:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the CLI never subscribed")


async def test_events_until_the_call_closes(
    env: None, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with live_server(settings) as server:
        call = server.runtime.calls.create(Transport.AUDIOSOCKET, {}, TransportInfo())
        cli = asyncio.create_task(
            asyncio.to_thread(main, ["events", call.id, "--url", server.http_url])
        )
        await _subscribed(server.http_url, call.id)
        async with httpx.AsyncClient() as client:
            assert (await client.delete(f"{server.http_url}/v1/calls/{call.id}")).is_success
        assert await asyncio.wait_for(cli, 10) == 0
    out, err = capsys.readouterr()
    # The in-process server's own log lines share the captured streams: keep the CLI's.
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert events[0]["type"] == "session.created"
    assert events[-1]["type"] == "session.closed"
    assert all(e["call_id"] == call.id for e in events if "call_id" in e)
    assert "mediaserver:" not in err


async def test_unknown_call_is_one_clear_line(
    env: None, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with live_server(settings) as server:
        code = await asyncio.to_thread(main, ["events", "nope", "--url", server.http_url])
    assert code == 1
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("mediaserver:")]
    assert line.startswith("mediaserver: no live call 'nope'")


def test_no_server_is_one_clear_line(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["events", "abc", "--url", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mediaserver: the server is not running at http://127.0.0.1:{port}")
    assert "Traceback" not in err


def _watch_then_interrupt(url: str, call_id: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediaserver", "events", call_id, "--url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, first, err


async def test_ctrl_c_stops_watching_quietly(env: None, settings: Settings) -> None:
    async with live_server(settings) as server:
        call = server.runtime.calls.create(Transport.AUDIOSOCKET, {}, TransportInfo())
        code, first, err = await asyncio.to_thread(_watch_then_interrupt, server.http_url, call.id)
    assert json.loads(first)["type"] == "session.created"
    assert code == 0
    assert err == ""
