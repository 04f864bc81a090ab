"""The worker's stream scheduling: finals first, stale partials skipped, finals bounded."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mediaserver.engines.ipc.engine_queue import EngineOverloaded, EngineQueue, JobKind
from mediaserver.engines.ipc.lanes import EngineLanes


def queue(lanes: int = 1, max_finals: int = 4) -> EngineQueue[str]:
    return EngineQueue(lanes, partial_max_wait_s=0.3, max_finals=max_finals)


def test_a_final_starts_before_partials_that_came_first() -> None:
    q = queue()
    q.push(JobKind.PARTIAL, "p1", 0.0)
    q.push(JobKind.PARTIAL, "p2", 0.0)
    q.push(JobKind.FINAL, "f1", 0.1)
    job, skipped = q.take(0.1)
    assert job is not None
    assert job.payload == "f1"
    assert skipped == []
    assert q.take(0.1) == (None, [])  # the only lane is busy
    q.done(job, 0.5)
    job, _ = q.take(0.2)
    assert job is not None
    assert job.payload == "p1"


def test_finals_run_in_arrival_order() -> None:
    q = queue(lanes=2)
    for name in ("f1", "f2", "f3"):
        q.push(JobKind.FINAL, name, 0.0)
    taken = [q.take(0.0)[0] for _ in range(3)]
    assert [j.payload if j else None for j in taken] == ["f1", "f2", None]


def test_a_partial_that_waited_too_long_is_skipped_not_run() -> None:
    q = queue()
    final = q.push(JobKind.FINAL, "f", 0.0)
    q.take(0.0)
    q.push(JobKind.PARTIAL, "old", 0.0)
    q.push(JobKind.PARTIAL, "new", 0.5)
    assert [j.payload for j in q.expire(0.6)] == ["old"]
    q.done(final, 0.5)
    job, skipped = q.take(0.6)
    assert job is not None
    assert job.payload == "new"
    assert skipped == []
    assert q.skipped == 1


def test_a_partial_that_cannot_be_skipped_waits_its_turn() -> None:
    q = queue()
    q.push(JobKind.PARTIAL, "ctc", 0.0, skippable=False)
    assert q.expire(10.0) == []
    job, _ = q.take(10.0)
    assert job is not None
    assert job.payload == "ctc"


def test_finals_beyond_the_bound_are_refused() -> None:
    q = queue(max_finals=2)
    q.push(JobKind.FINAL, "f1", 0.0)
    q.push(JobKind.FINAL, "f2", 0.0)
    with pytest.raises(EngineOverloaded):
        q.push(JobKind.FINAL, "f3", 0.0)
    q.take(0.0)  # one starts: room for one more
    q.push(JobKind.FINAL, "f3", 0.0)


def test_a_withdrawn_job_never_runs() -> None:
    q = queue()
    job = q.push(JobKind.PARTIAL, "p", 0.0)
    assert q.withdraw(job)
    assert not q.withdraw(job)
    assert q.take(0.0) == (None, [])


def test_finals_that_would_wait_too_long_are_refused() -> None:
    """The bound is in time: waiting finals times the mean time a final took."""
    q: EngineQueue[str] = EngineQueue(1, partial_max_wait_s=0.3, max_finals=99, max_final_wait_s=2)
    first = q.push(JobKind.FINAL, "f0", 0.0)
    q.take(0.0)
    q.done(first, 0.5)  # finals take 0.5 s
    for i in range(5):  # the 5th would wait 4 x 0.5 s = 2 s to start: still accepted
        q.push(JobKind.FINAL, f"f{i + 1}", 0.0)
    with pytest.raises(EngineOverloaded):
        q.push(JobKind.FINAL, "f6", 0.0)
    q.push(JobKind.PARTIAL, "p", 0.0)  # partials are never refused: they are skipped


def test_done_without_a_running_job_is_a_bug() -> None:
    q = queue()
    job = q.push(JobKind.FINAL, "f", 0.0)
    with pytest.raises(RuntimeError):
        q.done(job, 0.1)


async def test_lanes_run_a_final_before_queued_partials_and_skip_stale_ones() -> None:
    """One lane busy with a slow decode: a final queued after two partials runs first; the
    partials, stale by then, are answered by their skip function without running."""
    order: list[str] = []
    gate = threading.Event()

    def blocking() -> str:
        gate.wait(5)
        order.append("busy")
        return "busy"

    def job(name: str) -> str:
        order.append(name)
        return name

    with ThreadPoolExecutor(4) as executor:
        lanes = EngineLanes(executor, partial_max_wait_s=0.05)
        busy = asyncio.create_task(lanes.run(JobKind.PARTIAL, blocking))
        await asyncio.sleep(0.01)
        p1 = asyncio.create_task(
            lanes.run(JobKind.PARTIAL, lambda: job("p1"), skip=lambda: "skipped")
        )
        final = asyncio.create_task(lanes.run(JobKind.FINAL, lambda: job("final")))
        # The stale partial is answered while the lane is still busy, not when it frees.
        assert await asyncio.wait_for(p1, 1) == "skipped"
        gate.set()
        assert await busy == "busy"
        assert await final == "final"
    assert order == ["busy", "final"]
    assert lanes.skipped == 1


async def test_lanes_refuse_finals_beyond_the_bound() -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(2) as executor:
        lanes = EngineLanes(executor, max_finals=1)
        running = asyncio.create_task(lanes.run(JobKind.FINAL, lambda: gate.wait(5)))
        await asyncio.sleep(0.01)
        waiting = asyncio.create_task(lanes.run(JobKind.FINAL, lambda: True))
        await asyncio.sleep(0.01)
        with pytest.raises(EngineOverloaded):
            await lanes.run(JobKind.FINAL, lambda: True)
        gate.set()
        assert await running
        assert await waiting


async def test_a_cancelled_caller_withdraws_its_waiting_job() -> None:
    gate = threading.Event()
    ran: list[str] = []
    with ThreadPoolExecutor(2) as executor:
        lanes = EngineLanes(executor)
        running = asyncio.create_task(lanes.run(JobKind.FINAL, lambda: gate.wait(5)))
        await asyncio.sleep(0.01)
        waiting = asyncio.create_task(lanes.run(JobKind.FINAL, lambda: ran.append("x")))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        gate.set()
        await running
        assert lanes.depth(JobKind.FINAL) == 0
        await asyncio.sleep(0.05)  # a lane is free: a job still queued would have run by now
    assert ran == []


async def test_a_final_that_starts_while_others_wait_is_hurried() -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(2) as executor:
        lanes = EngineLanes(executor)
        busy = asyncio.create_task(lanes.run(JobKind.FINAL, lambda: gate.wait(5)))
        await asyncio.sleep(0.01)
        first = asyncio.create_task(
            lanes.run(JobKind.FINAL, lambda: "beam", hurried=lambda: "greedy")
        )
        last = asyncio.create_task(
            lanes.run(JobKind.FINAL, lambda: "beam", hurried=lambda: "greedy")
        )
        await asyncio.sleep(0.01)
        gate.set()
        assert await busy
        assert await first == "greedy"  # another final was waiting when it started
        assert await last == "beam"  # none was
    assert lanes.hurried == 1
