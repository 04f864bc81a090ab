"""A worker killed with SIGKILL in the middle of a REST transcription.

The supervisor sees the crash at once, restarts the worker and retries the request once on it:
the client gets its transcript (200) or, if the retry fails too, a clean 503 with a JSON error;
never a hung connection or a 500. The server then serves the next request normally.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import long_speech
from tests.integration.transcriptions_support import (
    installed_models,
    noise,
    post_audio,
    running_server,
    wav_bytes,
)

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.slow,
    pytest.mark.skipif(not long_speech.available(), reason="needs asterisk-core-sounds-en-wav"),
]
MODEL = "tiny-whisper"
LONG_S = 240.0  # long enough to be in the worker when it dies; under the 8 MiB upload limit


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(installed_models(tmp_path_factory)) as url:
        yield url


def worker(server: str) -> dict[str, Any]:
    loaded = httpx.get(f"{server}/v1/models?loaded=true", timeout=10).json()["data"]
    found: dict[str, Any] = next(m for m in loaded if m["id"] == MODEL)
    return found


def test_worker_killed_mid_request_is_restarted_and_the_request_ends_cleanly(
    server: str, tmp_path: Path
) -> None:
    short = wav_bytes(noise(1.0))
    assert post_audio(server, short, model=MODEL).status_code == 200
    before = worker(server)
    outcome: dict[str, Any] = {}

    # Real speech: the batch path's VAD sends no window of pure noise to the engine.
    speech = long_speech.long_recording(seconds=LONG_S)
    long_file = wav_bytes(speech.pcm, rate=long_speech.RATE)

    def long_request() -> None:
        outcome["response"] = post_audio(server, long_file, model=MODEL)
        outcome["done_at"] = time.monotonic()

    thread = threading.Thread(target=long_request)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while worker(server)["in_flight"] < 1:
            assert time.monotonic() < deadline, "the request never reached the worker"
            assert thread.is_alive(), "the request ended before the worker could be killed"
            time.sleep(0.01)
        os.kill(before["pid"], signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        thread.join(timeout=240)
    assert not thread.is_alive()
    assert outcome["done_at"] > killed_at, "the response must come after the kill"
    response: httpx.Response = outcome["response"]
    if response.status_code == 200:  # retried on the restarted worker
        assert response.json()["text"]
    else:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "engine_unavailable"
        assert "Retry-After" in response.headers

    after = worker(server)
    assert after["restarts"] >= before["restarts"] + 1
    assert after["pid"] != before["pid"]
    assert post_audio(server, short, model=MODEL).status_code == 200
    metrics = httpx.get(f"{server}/metrics", timeout=10).text
    assert f'mediaserver_worker_restarts_total{{model="{MODEL}"}} 1.0' in metrics
