"""/v1/jobs through the real app: upload and URL jobs decoded by a real worker (tiny random-
weight Whisper: only the plumbing is under test), results in every format, the webhook, the
list, cancel, and the 4xx answers."""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mediaserver.app import create_app
from mediaserver.config import Settings
from mediaserver.engines.base import ProgressCallback
from mediaserver.formats.transcripts import MEDIA_TYPES
from mediaserver.jobs.execute import BatchJobs
from mediaserver.jobs.service import JobService
from mediaserver.jobs.store import Job
from tests.integration.transcriptions_support import installed_models, noise, wav_bytes
from tests.unit.jobs.support import ScriptedExecute

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


class Hooks:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = 1  # the first attempt fails: the retry must deliver

    async def post(self, url: str, body: bytes, timeout_s: float) -> bool:
        if self.fail_first:
            self.fail_first -= 1
            return False
        self.bodies.append(json.loads(body))
        return True


@pytest.fixture
def app_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    models = dataclasses.replace(
        settings.models, dir=str(installed_models(tmp_path_factory)), default_stt="tiny-whisper"
    )
    jobs = dataclasses.replace(settings.jobs, webhook_backoff_s=0.01)
    return dataclasses.replace(settings, models=models, jobs=jobs)


def _client(settings: Settings, hooks: Hooks, execute: Any = None) -> TestClient:
    app = create_app(settings)
    runtime = app.state.runtime
    execute = execute or BatchJobs(settings, runtime.supervisor, runtime.postprocess)
    runtime.jobs = JobService(settings.jobs, execute, post=hooks.post)
    return TestClient(app)


def _wait(client: TestClient, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def wav_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "a.wav").write_bytes(wav_bytes(noise(3.0)))
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(tmp_path)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_upload_and_url_jobs_run_and_render_in_every_format(
    app_settings: Settings, wav_server: str
) -> None:
    hooks = Hooks()
    with _client(app_settings, hooks) as client:
        created = client.post(
            "/v1/jobs",
            files={"file": ("a.wav", wav_bytes(noise(2.0)), "audio/wav")},
            data={"language": "en", "webhook_url": "http://hooks.example/done"},
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        assert created.headers["location"] == f"/v1/jobs/{job_id}"
        by_url = client.post("/v1/jobs", json={"url": f"{wav_server}/a.wav", "language": "en"})
        assert by_url.status_code == 202, by_url.text
        missing = client.post("/v1/jobs", json={"url": f"{wav_server}/missing.wav"})

        done = _wait(client, job_id)
        assert done["status"] == "succeeded", done
        assert done["progress"] == 1.0
        assert done["audio_seconds"] == pytest.approx(2.6, abs=0.1)
        for fmt, kind in MEDIA_TYPES.items():
            rendered = client.get(f"/v1/jobs/{job_id}", params={"response_format": fmt})
            assert rendered.status_code == 200, rendered.text
            assert rendered.headers["content-type"].startswith(kind)
        assert _wait(client, by_url.json()["id"])["status"] == "succeeded"
        failed = _wait(client, missing.json()["id"])
        assert failed["status"] == "failed"
        assert "HTTP 404" in failed["error"]

        page = client.get("/v1/jobs", params={"limit": 2}).json()
        assert next(j["id"] for j in page["data"]) == job_id
        assert page["has_more"]
        rest = client.get("/v1/jobs", params={"after": page["next_after"]}).json()
        assert len(rest["data"]) == 1
        assert not rest["has_more"]

        runner = client.app.state.runtime.jobs.runner  # type: ignore[attr-defined]
        assert client.portal is not None
        client.portal.call(runner.webhooks.wait_idle)
    assert [b["job"]["id"] for b in hooks.bodies] == [job_id]  # delivered on the retry
    assert hooks.bodies[0]["type"] == "job.succeeded"
    assert "segments" in hooks.bodies[0]["result"]


class Blocked(ScriptedExecute):
    async def __call__(self, job: Job, progress: ProgressCallback) -> Any:
        self.started[job.id] += 1
        await asyncio.Event().wait()  # until cancelled


def test_cancel_and_the_4xx_answers(app_settings: Settings) -> None:
    with _client(app_settings, Hooks(), Blocked()) as client:
        ids = [
            client.post("/v1/jobs", json={"url": "http://audio.example/a.wav"}).json()["id"]
            for _ in range(2)
        ]
        cancelled = [client.delete(f"/v1/jobs/{job_id}") for job_id in ids]  # running, queued
        assert [r.json()["status"] for r in cancelled] == ["cancelled", "cancelled"]
        assert client.delete(f"/v1/jobs/{ids[0]}").status_code == 409
        not_done = client.get(f"/v1/jobs/{ids[0]}", params={"response_format": "text"})
        assert not_done.status_code == 409
        assert client.get("/v1/jobs/job_nope").status_code == 404
        bad = [
            client.post("/v1/jobs", json={"url": "file:///etc/passwd"}),
            client.post("/v1/jobs", json={"url": "http://a.example/x", "webhook_url": "ftp://x"}),
            client.post("/v1/jobs", json={"language": "en"}),  # neither file nor url
            client.post("/v1/jobs", json={"url": "http://a.example/x", "model": "nope"}),
            client.get("/v1/jobs", params={"status": "lost"}),
            client.get("/v1/jobs", params={"limit": "1000"}),
        ]
        assert [r.status_code for r in bad] == [400, 400, 400, 404, 400, 400]
        assert bad[0].json()["error"]["param"] == "url"
