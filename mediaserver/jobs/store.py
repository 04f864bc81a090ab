"""The durable job queue: one SQLite database (stdlib `sqlite3`, WAL mode).

Every state change is one statement or one `BEGIN IMMEDIATE` transaction, so a crash at any
point leaves each job in exactly one state:

- `claim` moves the oldest queued job to running and counts the attempt in the same statement:
  two runners (or two processes on one file) never take the same job.
- `succeed` writes the result and the state together, and only for a job still running: a job
  cancelled meanwhile stays cancelled, and a result is never written twice.
- `recover` (at start-up, before any claim) re-queues each job a stopped server left running,
  once: a job found running a second time failed twice mid-way and is marked failed rather
  than retried forever (a file that kills the worker must not loop).

Blocking: `AsyncJobStore` runs every call on one thread of its own, so the event loop never
waits on the disk and the connection is only ever used from that thread.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MAX_ATTEMPTS = 2  # the first run and one re-run after an interrupted one


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class WebhookState(StrEnum):
    NONE = "none"  # no webhook asked for
    PENDING = "pending"  # to be delivered (also after a restart)
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    seq: int  # creation order; the list cursor
    status: JobStatus
    request: dict[str, Any]  # the transcription parameters (`jobs.request`)
    url: str | None  # where the runner fetches the audio, or None for an upload
    audio_path: str | None  # the uploaded (or fetched) audio on disk
    webhook_url: str | None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    progress: float = 0.0  # 0..1
    audio_s: float = 0.0
    result: str | None = None  # the transcript as JSON (`jobs.results`)
    error: str | None = None
    webhook: WebhookState = WebhookState.NONE
    webhook_attempts: int = 0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    url TEXT,
    audio_path TEXT,
    webhook_url TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    audio_s REAL NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    webhook TEXT NOT NULL DEFAULT 'none',
    webhook_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], seq=row["seq"], status=JobStatus(row["status"]),
        request=json.loads(row["request"]), url=row["url"], audio_path=row["audio_path"],
        webhook_url=row["webhook_url"], created_at=row["created_at"],
        started_at=row["started_at"], finished_at=row["finished_at"],
        attempts=row["attempts"], progress=row["progress"], audio_s=row["audio_s"],
        result=row["result"], error=row["error"], webhook=WebhookState(row["webhook"]),
        webhook_attempts=row["webhook_attempts"],
    )  # fmt: skip


class JobStore:
    """Synchronous access to the jobs database (use `AsyncJobStore` from the event loop)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._clock = clock
        # Autocommit: each statement is its own transaction unless BEGIN says otherwise.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed job survives a crash of the server process (not
        # necessarily a power cut), without an fsync per progress update.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def create(
        self, job_id: str, request: dict[str, Any], *, url: str | None = None,
        audio_path: str | None = None, webhook_url: str | None = None,
    ) -> Job:  # fmt: skip
        webhook = WebhookState.PENDING if webhook_url else WebhookState.NONE
        self._db.execute(
            "INSERT INTO jobs (id, status, request, url, audio_path, webhook_url, created_at,"
            " webhook) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, JobStatus.QUEUED, json.dumps(request), url, audio_path, webhook_url,
             self._clock(), webhook),
        )  # fmt: skip
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def page(
        self, *, limit: int = 20, after: int = 0, status: JobStatus | None = None
    ) -> list[Job]:
        """Jobs in creation order after the cursor `after` (a `seq`)."""
        query = "SELECT * FROM jobs WHERE seq > ?"
        args: list[Any] = [after]
        if status is not None:
            query += " AND status = ?"
            args.append(status)
        rows = self._db.execute(query + " ORDER BY seq LIMIT ?", (*args, limit)).fetchall()
        return [_job(row) for row in rows]

    def count(self, status: JobStatus) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)).fetchone()
        return int(row[0])

    def claim(self) -> Job | None:
        """The oldest queued job, now running (its attempt counted), or None."""
        row = self._db.execute(
            "UPDATE jobs SET status = ?, attempts = attempts + 1, started_at = ?, progress = 0"
            " WHERE seq = (SELECT seq FROM jobs WHERE status = ? ORDER BY seq LIMIT 1)"
            " RETURNING *",
            (JobStatus.RUNNING, self._clock(), JobStatus.QUEUED),
        ).fetchone()
        return None if row is None else _job(row)

    def recover(self) -> tuple[int, int]:
        """At start-up: (re-queued, failed) jobs that a stopped server left running."""
        with self._transaction():
            failed = self._db.execute(
                "UPDATE jobs SET status = ?, error = ?, finished_at = ?"
                " WHERE status = ? AND attempts >= ?",
                (JobStatus.FAILED, "interrupted twice by a server stop; not retried again",
                 self._clock(), JobStatus.RUNNING, MAX_ATTEMPTS),
            ).rowcount  # fmt: skip
            requeued = self._db.execute(
                "UPDATE jobs SET status = ?, progress = 0 WHERE status = ?",
                (JobStatus.QUEUED, JobStatus.RUNNING),
            ).rowcount
        return requeued, failed

    def release(self, job_id: str) -> bool:
        """A running job handed back by a runner that stops cleanly: queued, attempt undone."""
        cursor = self._db.execute(
            "UPDATE jobs SET status = ?, attempts = MAX(attempts - 1, 0), progress = 0"
            " WHERE id = ? AND status = ?",
            (JobStatus.QUEUED, job_id, JobStatus.RUNNING),
        )
        return cursor.rowcount == 1

    def set_progress(self, job_id: str, progress: float, audio_s: float) -> None:
        self._db.execute(
            "UPDATE jobs SET progress = ?, audio_s = ? WHERE id = ? AND status = ?",
            (min(max(progress, 0.0), 1.0), audio_s, job_id, JobStatus.RUNNING),
        )

    def set_audio(self, job_id: str, audio_path: str) -> None:
        self._db.execute("UPDATE jobs SET audio_path = ? WHERE id = ?", (audio_path, job_id))

    def succeed(self, job_id: str, result: str, audio_s: float) -> bool:
        """Result and state in one statement; False when the job is no longer running."""
        return self._finish(job_id, JobStatus.SUCCEEDED, result=result, audio_s=audio_s)

    def fail(self, job_id: str, error: str) -> bool:
        return self._finish(job_id, JobStatus.FAILED, error=error)

    def _finish(
        self, job_id: str, status: JobStatus, *, result: str | None = None,
        error: str | None = None, audio_s: float | None = None,
    ) -> bool:  # fmt: skip
        cursor = self._db.execute(
            "UPDATE jobs SET status = ?, result = ?, error = ?, finished_at = ?,"
            " progress = CASE WHEN ? THEN 1 ELSE progress END, audio_s = COALESCE(?, audio_s)"
            " WHERE id = ? AND status = ?",
            (status, result, error, self._clock(), status == JobStatus.SUCCEEDED, audio_s,
             job_id, JobStatus.RUNNING),
        )  # fmt: skip
        return cursor.rowcount == 1

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job; the job as it is now (None: no such job)."""
        self._db.execute(
            "UPDATE jobs SET status = ?, finished_at = ?, error = ?"
            " WHERE id = ? AND status IN (?, ?)",
            (JobStatus.CANCELLED, self._clock(), "cancelled by a client", job_id,
             JobStatus.QUEUED, JobStatus.RUNNING),
        )  # fmt: skip
        return self.get(job_id)

    def webhooks_due(self) -> list[Job]:
        """Finished jobs whose webhook is still to be delivered (after a restart too)."""
        marks = ",".join("?" * len(FINISHED))
        rows = self._db.execute(
            f"SELECT * FROM jobs WHERE webhook = ? AND status IN ({marks}) ORDER BY seq",
            (WebhookState.PENDING, *FINISHED),
        ).fetchall()
        return [_job(row) for row in rows]

    def set_webhook(self, job_id: str, state: WebhookState, attempts: int) -> None:
        self._db.execute(
            "UPDATE jobs SET webhook = ?, webhook_attempts = ? WHERE id = ?",
            (state, attempts, job_id),
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


class AsyncJobStore:
    """`JobStore` for the event loop: `await store.run(JobStore.claim)`, on one thread."""

    def __init__(self, store: JobStore) -> None:
        self.sync = store
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs-db")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(store, ...)` on the database thread. Once asked for, it happens: a caller
        cancelled while the call waits its turn does not take the write back (a job whose
        result was computed is marked done even if the runner is stopping)."""
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._thread, lambda: fn(self.sync, *args, **kwargs))
        return await asyncio.shield(call)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self.sync.close()
