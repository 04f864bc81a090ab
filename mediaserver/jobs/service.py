"""The jobs service the routes talk to: the store, the runner and the webhooks, started together.

Nothing touches the disk before `start()`: building a runtime (tests do it by the hundred)
opens no database.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from mediaserver.batch.transcription import BatchResult
from mediaserver.config import JobsSettings
from mediaserver.formats.transcripts import verbose
from mediaserver.jobs.codec import JobRequest, result_from_dict
from mediaserver.jobs.runner import Execute, JobRunner
from mediaserver.jobs.store import AsyncJobStore, Job, JobStatus, JobStore
from mediaserver.jobs.webhook import Post, Webhooks, http_post

DATABASE = "jobs.db"


class JobsUnavailable(RuntimeError):
    """The jobs service is not running (disabled, or the server is starting or stopping)."""


class QueueFull(RuntimeError):
    """`max_queued` jobs are waiting already."""


def job_view(job: Job) -> dict[str, Any]:
    """A job as clients see it (no internal paths)."""
    return {
        "id": job.id,
        "object": "transcription.job",
        "status": str(job.status),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": round(job.progress, 4),
        "audio_seconds": round(job.audio_s, 3),
        "attempts": job.attempts,
        "source": "url" if job.url is not None else "upload",
        "error": job.error,
        "webhook": str(job.webhook),
    }


def job_result(job: Job) -> BatchResult | None:
    return None if job.result is None else result_from_dict(json.loads(job.result))


class JobService:
    def __init__(self, settings: JobsSettings, execute: Execute, *, post: Post = http_post):
        self.settings = settings
        self._execute = execute
        self._post = post
        self._store: AsyncJobStore | None = None
        self.runner: JobRunner | None = None

    @property
    def audio_dir(self) -> Path:
        return self.settings.path / "audio"

    async def start(self) -> None:
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self._store = AsyncJobStore(JobStore(self.settings.path / DATABASE))
        webhooks = Webhooks(
            self._store, self._payload, attempts=self.settings.webhook_attempts,
            backoff_s=self.settings.webhook_backoff_s, timeout_s=self.settings.webhook_timeout_s,
            post=self._post,
        )  # fmt: skip
        self.runner = JobRunner(
            self._store, self._execute, concurrency=self.settings.concurrency, webhooks=webhooks
        )
        await self.runner.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def _live(self) -> tuple[AsyncJobStore, JobRunner]:
        if self._store is None or self.runner is None:
            raise JobsUnavailable("the jobs service is not running")
        return self._store, self.runner

    async def create(
        self, request: JobRequest, *, upload: BinaryIO | None = None, url: str | None = None,
        webhook_url: str | None = None,
    ) -> Job:  # fmt: skip
        """Queue a job for an uploaded file (copied to disk now) or a URL (fetched when run)."""
        store, runner = self._live()
        if await store.run(JobStore.count, JobStatus.QUEUED) >= self.settings.max_queued:
            raise QueueFull(f"{self.settings.max_queued} jobs are queued already; retry later")
        job_id = f"job_{uuid.uuid4().hex}"
        audio_path = None
        if upload is not None:
            path = self.audio_dir / job_id
            await store.run(lambda _s: _copy(upload, path))
            audio_path = str(path)
        job = await store.run(
            JobStore.create, job_id, request.to_dict(), url=url, audio_path=audio_path,
            webhook_url=webhook_url,
        )  # fmt: skip
        runner.submit()
        return job

    async def get(self, job_id: str) -> Job | None:
        store, _ = self._live()
        return await store.run(JobStore.get, job_id)

    async def list(self, *, limit: int, after: int, status: JobStatus | None) -> list[Job]:
        store, _ = self._live()
        return await store.run(JobStore.page, limit=limit, after=after, status=status)

    async def cancel(self, job_id: str) -> Job | None:
        store, runner = self._live()
        job = await runner.cancel(job_id)
        if job is not None and job.status == JobStatus.CANCELLED and job.audio_path:
            await store.run(lambda _s: Path(job.audio_path or "").unlink(missing_ok=True))
        return job

    def _payload(self, job: Job) -> dict[str, Any]:
        body: dict[str, Any] = {"type": f"job.{job.status}", "job": job_view(job)}
        result = job_result(job)
        if result is not None:
            words = bool(job.request.get("words", False))
            body["result"] = verbose(result, words=words)
        return body


def _copy(upload: BinaryIO, path: Path) -> None:
    upload.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload, out, 1 << 20)
