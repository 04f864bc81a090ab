"""Real worker processes running the scripted engine, driven through the supervisor."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest

from mediaserver.engines.base import TranscribeOptions
from mediaserver.engines.errors import WorkerCrashed, WorkerStartError
from mediaserver.engines.supervision.supervisor import Supervisor
from tests.fake_engine import read_events
from tests.integration.workers_support import FAST, alive, kill9, resolver, silence

OPTIONS = TranscribeOptions(language="pt")


async def test_transcribe_file_over_unix_socket(tmp_path: Path) -> None:
    progress: list[tuple[float, float]] = []
    async with Supervisor(resolver(tmp_path, m={"rtf": 0.2}), FAST) as sup:
        started = time.monotonic()
        transcript = await sup.transcribe_file(
            "m", silence(1.6), OPTIONS, progress=lambda d, t: progress.append((d, t))
        )
        elapsed = time.monotonic() - started
        (status,) = sup.workers()
    assert transcript.text == "um dois três"
    assert transcript.duration == pytest.approx(1.6)
    assert transcript.segments[0].words[-1].word == "três"
    assert progress
    assert progress[-1][1] == pytest.approx(1.6)
    assert status.state == "ready"
    assert status.address is not None
    assert status.address.startswith("unix://")
    assert status.pid is not None
    assert status.loaded_since is not None
    assert status.restarts == 0
    assert elapsed < 3.0  # spawn + load + 0.32 s of scripted work


async def test_int16_audio_is_accepted(tmp_path: Path) -> None:
    async with Supervisor(resolver(tmp_path, m={}), FAST) as sup:
        transcript = await sup.transcribe_file("m", silence(1.1, np.int16), OPTIONS)
    assert transcript.text == "um dois"


async def test_bidirectional_stream(tmp_path: Path) -> None:
    async with Supervisor(resolver(tmp_path, m={}), FAST) as sup:
        async with sup.stream("m", OPTIONS) as stream:
            texts = [(await stream.accept(silence(0.25))).text for _ in range(5)]
            final = await stream.complete()
            assert sup.workers()[0].in_flight == 1
        assert sup.workers()[0].in_flight == 0
    assert texts == ["", "um", "um", "um dois", "um dois"]
    assert final.is_final
    assert final.text == "um dois"
    assert stream.audio_s == pytest.approx(1.25)


async def test_stream_read_alongside_push(tmp_path: Path) -> None:
    async with Supervisor(resolver(tmp_path, m={}), FAST) as sup, sup.stream("m", OPTIONS) as s:
        for _ in range(4):
            await s.push(silence(0.5))
        await s.finish()
        hypotheses = [h async for h in s]
    assert [h.text for h in hypotheses] == [
        "um", "um dois", "um dois três", "um dois três quatro", "um dois três quatro"
    ]  # fmt: skip
    assert [h.is_final for h in hypotheses] == [False] * 4 + [True]


async def test_kill_mid_stream_gives_recoverable_error_at_once(tmp_path: Path) -> None:
    async with Supervisor(resolver(tmp_path, m={"accept_s": 2.0}), FAST) as sup:
        async with sup.stream("m", OPTIONS) as stream:
            pid = sup.workers()[0].pid
            assert pid is not None
            await stream.push(silence(0.2))
            pending = asyncio.create_task(stream.read())
            await asyncio.sleep(0.1)  # the engine is inside accept
            killed_at = kill9(pid)
            with pytest.raises(WorkerCrashed) as info:
                await pending
            detected_s = time.monotonic() - killed_at
            with pytest.raises(WorkerCrashed):
                await stream.push(silence(0.2))  # the stream stays broken
        assert info.value.recoverable
        assert detected_s < 1.0
        # The session re-opens a stream; it waits for the restarted worker.
        async with sup.stream("m", OPTIONS) as again:
            await again.push(silence(0.6))
            hypothesis = await again.read()
        (status,) = sup.workers()
    assert hypothesis is not None
    assert hypothesis.text == "um"
    assert status.restarts == 1
    assert status.pid != pid
    assert not alive(pid)


async def test_kill_mid_batch_is_retried_once(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    async with Supervisor(resolver(tmp_path, m={"rtf": 1.0, "events": str(events)}), FAST) as sup:
        started = asyncio.Event()
        task = asyncio.create_task(
            sup.transcribe_file("m", silence(1.0), OPTIONS, progress=lambda d, t: started.set())
        )
        await asyncio.wait_for(started.wait(), 5)
        pid = sup.workers()[0].pid
        assert pid is not None
        kill9(pid)
        transcript = await asyncio.wait_for(task, 10)
        (status,) = sup.workers()
    assert transcript.text == "um dois"
    assert status.restarts == 1
    loads = [e for e in read_events(events) if e["event"] == "load"]
    assert len({e["pid"] for e in loads}) == 2


async def test_batch_that_kills_the_worker_fails_cleanly(tmp_path: Path) -> None:
    resolve = resolver(tmp_path, m={"rtf": 0.1, "crash_at_s": 0.5})
    async with Supervisor(resolve, FAST) as sup:
        with pytest.raises(WorkerCrashed) as info:
            await sup.transcribe_file("m", silence(1.0), OPTIONS)
        assert info.value.retryable
        # Short audio does not reach the crash point: the restarted worker serves it.
        transcript = await sup.transcribe_file("m", silence(0.4), OPTIONS)
        assert sup.workers()[0].restarts == 2
    assert transcript.text == ""


async def test_cancel_reaches_the_engine_within_50_ms(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    script = {"rtf": 20.0, "step_s": 0.005, "events": str(events)}
    async with Supervisor(resolver(tmp_path, m=script), FAST) as sup:
        started = asyncio.Event()
        task = asyncio.create_task(
            sup.transcribe_file("m", silence(2.0), OPTIONS, progress=lambda d, t: started.set())
        )
        await asyncio.wait_for(started.wait(), 5)
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            seen = [e for e in read_events(events) if e["event"] == "cancelled"]
            if seen:
                break
            await asyncio.sleep(0.01)
        # The worker is free again at once: a new request is served.
        transcript = await sup.transcribe_file("m", silence(0.01), OPTIONS)
    assert seen, "the engine never saw the cancellation"
    assert seen[0]["t"] - cancelled_at < 0.05
    assert transcript.text == ""


async def test_idle_worker_is_unloaded_after_ttl(tmp_path: Path) -> None:
    options = dataclasses.replace(FAST, auto_unload_s=0.3)
    async with Supervisor(resolver(tmp_path, m={}), options) as sup:
        await sup.transcribe_file("m", silence(0.5), OPTIONS)
        pid = sup.workers()[0].pid
        assert pid is not None
        await asyncio.sleep(0.2)
        assert sup.workers(), "unloaded before its TTL"
        for _ in range(60):
            await asyncio.sleep(0.05)
            if not sup.workers() and not alive(pid):
                break
        assert sup.workers() == []
        assert not alive(pid)
        transcript = await sup.transcribe_file("m", silence(0.5), OPTIONS)  # loads again
        assert sup.workers()[0].pid != pid
    assert transcript.text == "um"


async def test_graceful_shutdown_drains_and_leaves_no_process(tmp_path: Path) -> None:
    sup = Supervisor(resolver(tmp_path, a={"rtf": 0.5}, b={}), FAST)
    await sup.start()
    await sup.load("b")
    started = asyncio.Event()
    batch = asyncio.create_task(
        sup.transcribe_file("a", silence(1.0), OPTIONS, progress=lambda d, t: started.set())
    )
    await asyncio.wait_for(started.wait(), 5)
    pids = [s.pid for s in sup.workers()]
    assert len(pids) == 2
    await sup.close()
    transcript = await batch  # in flight when the shutdown began: drained, not dropped
    assert transcript.text == "um dois"
    assert sup.workers() == []
    assert all(pid is not None and not alive(pid) for pid in pids)


async def test_model_that_cannot_load_is_reported(tmp_path: Path) -> None:
    async with Supervisor(resolver(tmp_path, m={"fail_load": "corrupt weights"}), FAST) as sup:
        with pytest.raises(WorkerStartError, match="corrupt weights") as info:
            await sup.transcribe_file("m", silence(0.5), OPTIONS)
        (status,) = sup.workers()
    assert not info.value.retryable
    assert status.state == "failed"
    assert status.restarts == 0


async def test_unresponsive_worker_is_killed_and_restarted(tmp_path: Path) -> None:
    async with Supervisor(resolver(tmp_path, m={"freeze_after_s": 0.3}), FAST) as sup:
        await sup.load("m")
        pid = sup.workers()[0].pid
        assert pid is not None
        for _ in range(60):
            await asyncio.sleep(0.05)
            if sup.workers()[0].restarts:
                break
        (status,) = sup.workers()
        assert status.restarts >= 1
        assert "unresponsive" in status.last_error
        assert not alive(pid)


async def test_worker_over_its_memory_limit_is_restarted(tmp_path: Path) -> None:
    resolve = resolver(tmp_path, m={"spec": {"memory_limit_mb": 1}})
    async with Supervisor(resolve, FAST) as sup:
        await sup.load("m")
        pid = sup.workers()[0].pid
        assert pid is not None
        for _ in range(40):
            await asyncio.sleep(0.05)
            if sup.workers()[0].restarts:
                break
        (status,) = sup.workers()
    assert status.restarts >= 1
    assert "memory limit" in status.last_error
    assert not alive(pid)
