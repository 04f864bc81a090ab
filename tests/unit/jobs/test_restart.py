"""Jobs survive a server stop in the middle of the queue: none lost, none done twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from mediaserver.jobs.runner import JobRunner
from mediaserver.jobs.store import AsyncJobStore, JobStatus, JobStore
from tests.unit.jobs.support import REQUEST, ScriptedExecute

JOBS = 200


async def _until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    async def poll() -> None:
        # Polling the database is the point: the state lives there, not in an event.
        while not await predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout_s)


async def _run_until_done(path: Path, execute: ScriptedExecute, concurrency: int) -> JobStore:
    store = AsyncJobStore(JobStore(path))
    runner = JobRunner(store, execute, concurrency=concurrency)
    await runner.start()

    async def drained() -> bool:
        counts = [await store.run(JobStore.count, s) for s in (JobStatus.QUEUED, JobStatus.RUNNING)]
        return sum(counts) == 0

    await _until(drained)
    await runner.stop()
    store.close()
    return JobStore(path)


def _check_every_job_done_once(store: JobStore, execute: ScriptedExecute) -> None:
    jobs = store.page(limit=10 * JOBS)
    assert len(jobs) == JOBS
    assert {job.status for job in jobs} == {JobStatus.SUCCEEDED}
    for job in jobs:
        assert json.loads(job.result or "{}")["text"] == job.id  # its own result, written once
        assert execute.finished[job.id] == 1, job.id  # completed exactly once
        assert job.progress == 1.0
    store.close()


@pytest.mark.parametrize("crash", [False, True], ids=["clean-stop", "crash"])
async def test_a_restart_in_the_middle_of_200_jobs_loses_and_duplicates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash: bool
) -> None:
    path = tmp_path / "jobs.db"
    seed = JobStore(path)
    for i in range(JOBS):
        seed.create(f"job-{i:03d}", REQUEST.to_dict())
    seed.close()

    execute = ScriptedExecute(max_delay_s=0.01)
    store = AsyncJobStore(JobStore(path))
    first = JobRunner(store, execute, concurrency=4)
    await first.start()

    async def some_done() -> bool:
        return await store.run(JobStore.count, JobStatus.SUCCEEDED) >= 60

    await _until(some_done)
    with monkeypatch.context() as patch:
        if crash:
            # A killed server hands nothing back: its jobs stay `running` in the database.
            patch.setattr(JobStore, "release", lambda self, job_id: False)
        await first.stop()
        interrupted = [job.id for job in store.sync.page(limit=JOBS, status=JobStatus.RUNNING)]
    store.close()
    assert 0 < sum(execute.finished.values()) < JOBS
    assert bool(interrupted) == crash
    cut_short = {job_id for job_id in execute.started if not execute.finished[job_id]}

    done = await _run_until_done(path, execute, concurrency=4)
    _check_every_job_done_once(done, execute)
    # The jobs cut short ran once more; every other job ran once.
    assert {job_id: n for job_id, n in execute.started.items() if n != 1} == dict.fromkeys(
        cut_short, 2
    )
