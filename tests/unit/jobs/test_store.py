from __future__ import annotations

from pathlib import Path

from mediaserver.jobs.store import JobStatus, JobStore, WebhookState
from tests.unit.jobs.support import REQUEST


def _store(tmp_path: Path) -> JobStore:
    clock = iter(float(t) for t in range(1000))
    return JobStore(tmp_path / "jobs.db", clock=lambda: next(clock))


def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    store = _store(tmp_path)
    mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()


def test_jobs_are_claimed_oldest_first_and_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for name in ("a", "b"):
        store.create(name, REQUEST.to_dict())
    first, second = store.claim(), store.claim()
    assert (first and first.id, second and second.id) == ("a", "b")
    assert first is not None
    assert first.status == JobStatus.RUNNING
    assert first.attempts == 1
    assert store.claim() is None
    store.close()


def test_a_running_job_found_at_start_is_requeued_exactly_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.create("a", REQUEST.to_dict())
    store.claim()
    assert store.recover() == (1, 0)  # first stop mid-way: back in the queue
    assert store.claim() is not None
    assert store.recover() == (0, 1)  # the second: failed, with the reason
    job = store.get("a")
    assert job is not None
    assert job.status == JobStatus.FAILED
    assert "interrupted twice" in (job.error or "")
    store.close()


def test_a_result_is_written_only_for_a_running_job(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.create("a", REQUEST.to_dict(), webhook_url="http://hook.invalid/x")
    assert not store.succeed("a", "{}", 1.0)  # still queued
    store.claim()
    cancelled = store.cancel("a")
    assert cancelled is not None
    assert cancelled.status == JobStatus.CANCELLED
    assert not store.succeed("a", "{}", 1.0)  # cancelled meanwhile: stays cancelled
    assert [job.id for job in store.webhooks_due()] == ["a"]
    store.set_webhook("a", WebhookState.DELIVERED, 1)
    assert store.webhooks_due() == []
    store.close()


def test_pages_follow_creation_order(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for i in range(5):
        store.create(f"j{i}", REQUEST.to_dict())
    page = store.page(limit=2)
    assert [j.id for j in page] == ["j0", "j1"]
    assert [j.id for j in store.page(limit=2, after=page[-1].seq)] == ["j2", "j3"]
    assert [j.id for j in store.page(limit=9, status=JobStatus.QUEUED)][-1] == "j4"
    store.close()
