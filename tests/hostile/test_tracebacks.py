"""Failure 8: no unhandled traceback when a pipe closes, at Ctrl-D, on a second SIGTERM, or when
a browser vanishes mid-call (whose call must then end promptly, not ~30 s later)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import signal
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest

from mediaserver.app import create_app
from mediaserver.config import load_settings
from mediaserver.engines.models.registry import Registry
from mediaserver.transports.webrtc import WebRtcGateway
from tests.e2e.webrtc_chromium import Chromium, have_chromium
from tests.e2e.webrtc_chromium import serve as serve_app
from tests.hostile.server import serve


def cli(models: Path, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MEDIASERVER_MODELS_DIR": str(models)}
    return subprocess.Popen([sys.executable, "-m", "mediaserver", *args], env=env, **kwargs)


def test_postprocess_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    # `mediaserver postprocess < lines | head -1`
    with cli(tmp_path, "postprocess", "--no-nemo", stdin=subprocess.PIPE,
             stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0) as proc:  # fmt: skip
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        # Fed from a thread: far more than the pipes hold, so the child is still writing when
        # the reader goes away.
        feeder = threading.Thread(
            target=_feed, args=(proc.stdin, b"o cpf e um dois tres\n", 50_000)
        )
        feeder.start()
        assert proc.stdout.readline()
        proc.stdout.close()  # what `head` does once it has its line
        errors = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 128 + signal.SIGPIPE
        feeder.join(timeout=10)
    assert "Traceback" not in errors
    assert "BrokenPipeError" not in errors


def _feed(pipe: IO[bytes], line: bytes, count: int) -> None:
    with contextlib.suppress(BrokenPipeError):
        for _ in range(count):
            pipe.write(line)
        pipe.close()


def test_ctrl_d_at_the_rm_prompt_is_a_no(hostile_models: Path) -> None:
    leader, follower = pty.openpty()
    proc = cli(hostile_models, "rm", "tiny-wenet", stdin=follower, stdout=follower,
               stderr=follower)  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        while b"[y/N]" not in seen:
            seen += os.read(leader, 1024)
        os.write(leader, b"\x04")  # Ctrl-D: end of input
        while True:
            try:
                chunk = os.read(leader, 1024)
            except OSError:  # the pty closes when the process exits
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    assert proc.wait(timeout=30) == 1
    text = seen.decode(errors="replace")
    assert "nothing removed" in text
    assert "Traceback" not in text
    assert Registry(hostile_models).is_installed("tiny-wenet")


def test_second_sigterm_forces_exit_without_a_traceback(
    hostile_models: Path, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with serve(hostile_models, log, MEDIASERVER_SERVER__DRAIN_GRACE_S="10") as server:
        server.proc.send_signal(signal.SIGTERM)  # drain: /ready 503 for at least 10 s
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)  # forced
        assert server.proc.wait(timeout=15) == 1
    text = log.read_text()
    assert "server.drain_start" in text
    assert "Traceback" not in text
    assert "CancelledError" not in text


@pytest.mark.skipif(not have_chromium(), reason="needs chromium")
async def test_vanished_browser_ends_its_call_promptly(
    hostile_models: Path, tmp_path: Path
) -> None:
    settings = load_settings(environ={
        "MEDIASERVER_MODELS_DIR": str(hostile_models), "MEDIASERVER_POSTPROCESS__NEMO": "false",
        "MEDIASERVER_AUDIOSOCKET__ENABLED": "false", "MEDIASERVER_RTP__ENABLED": "false",
    })  # fmt: skip
    mic = tmp_path / "mic.wav"
    with wave.open(str(mic), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        noise = np.random.default_rng(1).standard_normal(48000 * 3) * 3000
        w.writeframes(noise.astype("<i2").tobytes())
    app = create_app(settings)
    runtime = app.state.runtime
    runtime.webrtc = WebRtcGateway(media_timeout_s=1.0)
    unhandled: list[str] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda loop, context: unhandled.append(str(context.get("message")))
    )
    page_url = "/?autostart=1&model=tiny-wenet&language=pt"
    async with serve_app(app) as base, Chromium.open(base + page_url, mic, tmp_path / "p") as page:
        await _until(lambda: bool(runtime.calls.calls()) and runtime.webrtc.peer_count == 1, 30)
        (call,) = runtime.calls.calls()
        await _until(lambda: call.info(detail=True)["stats"]["frames_received"] > 20, 15)
        page.process.kill()  # the browser vanishes: no BYE, no DTLS close, nothing
        started = time.monotonic()
        await _until(lambda: not runtime.calls.calls() and runtime.webrtc.peer_count == 0, 10)
        took = time.monotonic() - started
        await asyncio.sleep(1.0)  # aiortc's orphaned sends fail around now
    assert took < 4.0  # 1 s without media, then the close (it was ~30 s: ICE consent)
    assert unhandled == []


async def _until(condition: Any, limit_s: float) -> None:
    async with asyncio.timeout(limit_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
