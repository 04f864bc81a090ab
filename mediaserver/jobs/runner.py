"""Runs queued jobs, `concurrency` at a time, beside live calls.

Live calls come first through the engine scheduler: a job's decoding asks for its worker slot
at batch priority (`Supervisor.transcribe_file` default), so a call's utterance never waits
behind a job for longer than the job's current request. `concurrency` bounds how many jobs hold
audio in memory and engine slots at once.

Lifecycle: `start()` recovers the jobs a stopped server left running (re-queued once, see
`store.recover`), resumes pending webhooks and starts the loops; `submit()` wakes them;
`stop()` cancels the jobs under way and hands them back to the queue (`store.release`), so
nothing a clean stop interrupts is lost or counted as an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from mediaserver.batch.transcription import BatchResult
from mediaserver.engines.base import ProgressCallback
from mediaserver.jobs.codec import result_to_dict
from mediaserver.jobs.store import AsyncJobStore, Job, JobStatus, JobStore
from mediaserver.jobs.webhook import Webhooks

log = structlog.get_logger("mediaserver.jobs")
Execute = Callable[[Job, ProgressCallback], Coroutine[Any, Any, BatchResult]]
PROGRESS_EVERY_S = 1.0  # progress is written to the database at most this often per job


class JobFailed(Exception):
    """A job could not be done for a reason the client should read (bad audio, bad url)."""


class JobRunner:
    def __init__(
        self, store: AsyncJobStore, execute: Execute, *, concurrency: int,
        webhooks: Webhooks | None = None,
    ) -> None:  # fmt: skip
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.store = store
        self._execute = execute
        self._concurrency = concurrency
        self.webhooks = webhooks
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[BatchResult]] = {}
        self._stopping = False
        self._background: set[asyncio.Task[None]] = set()
        self.started = 0  # jobs this runner began (tests count them)

    async def start(self) -> None:
        requeued, failed = await self.store.run(JobStore.recover)
        if requeued or failed:
            log.info("jobs.recovered", requeued=requeued, failed=failed)
        if self.webhooks is not None:
            await self.webhooks.resume()
        self._loops = [asyncio.create_task(self._loop()) for _ in range(self._concurrency)]

    def submit(self) -> None:
        """A job was queued: wake an idle loop."""
        self._wake.set()

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (a running one stops at once); the job now."""
        job = await self.store.run(JobStore.cancel, job_id)
        task = self._running.get(job_id)
        if task is not None and job is not None and job.status == JobStatus.CANCELLED:
            task.cancel()
        if job is not None and job.status == JobStatus.CANCELLED and self.webhooks is not None:
            self.webhooks.send(job)
        return job

    async def stop(self) -> None:
        self._stopping = True
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        if self.webhooks is not None:
            await self.webhooks.stop()

    async def _loop(self) -> None:
        while not self._stopping:
            job = await self._claim()
            if job is None:
                self._wake.clear()
                # Polling too: another process may share the database.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                continue
            await self._run(job)

    async def _claim(self) -> Job | None:
        # The claim runs on the database thread whatever happens here: if the runner is
        # stopped while waiting for it, the job it took must go back to the queue.
        claim = asyncio.ensure_future(self.store.run(JobStore.claim))
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            job = await claim
            if job is not None:
                await self.store.run(JobStore.release, job.id)
            raise

    async def _run(self, job: Job) -> None:
        self.started += 1
        task = asyncio.create_task(self._execute(job, self._progress(job)))
        self._running[job.id] = task
        started = time.monotonic()
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and not self._stopping:
                return  # cancelled by a client: the store already says so
            if task.done() and not task.cancelled() and task.exception() is None:
                # Stopped just as the job finished: keep its result rather than redo it.
                await self._succeed(job, task.result(), started)
                raise
            # The runner is stopping mid-job: hand the job back to the queue.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self.store.run(JobStore.release, job.id)
            raise
        except JobFailed as exc:
            await self._finished(job.id, JobStore.fail, job.id, str(exc))
            return
        except Exception as exc:  # a bug or an engine failure: the job fails, the runner lives
            log.warning("jobs.error", job=job.id, error_type=type(exc).__name__)
            await self._finished(job.id, JobStore.fail, job.id, f"transcription failed: {exc}")
            return
        finally:
            self._running.pop(job.id, None)
        await self._succeed(job, result, started)

    async def _succeed(self, job: Job, result: BatchResult, started: float) -> None:
        body = json.dumps(result_to_dict(result), ensure_ascii=False)
        await self._finished(job.id, JobStore.succeed, job.id, body, result.duration)
        log.info("jobs.done", job=job.id, audio_s=round(result.duration, 2),
                 elapsed_s=round(time.monotonic() - started, 3))  # fmt: skip

    async def _finished(self, job_id: str, fn: Callable[..., bool], *args: object) -> None:
        if await self.store.run(fn, *args) and self.webhooks is not None:
            job = await self.store.run(JobStore.get, job_id)
            if job is not None:
                self.webhooks.send(job)

    def _progress(self, job: Job) -> ProgressCallback:
        last = [0.0]
        loop = asyncio.get_running_loop()

        def report(done_s: float, total_s: float) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_EVERY_S and done_s < total_s:
                return
            last[0] = now
            fraction = done_s / total_s if total_s > 0 else 0.0
            # Called on the event loop (batch.transcribe's callback): store in the background.
            write = self.store.run(JobStore.set_progress, job.id, fraction, total_s)
            task = loop.create_task(write)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        return report
