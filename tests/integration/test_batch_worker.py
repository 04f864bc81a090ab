"""Files go to a second, niced worker per STT model; live streams keep the first one."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from mediaserver.engines.base import TranscribeOptions
from mediaserver.engines.supervision.supervisor import Supervisor
from tests.integration.workers_support import FAST, alive, resolver, silence

OPTIONS = TranscribeOptions(language="pt")
SPLIT = dataclasses.replace(FAST, batch_nice=7)


def niceness(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


async def test_a_file_and_a_stream_of_one_model_run_in_two_processes(tmp_path: Path) -> None:
    async with Supervisor(resolver(tmp_path, m={}), SPLIT) as sup:
        async with sup.stream("m", OPTIONS) as stream:
            await stream.accept(silence(0.5))
            transcript = await sup.transcribe_file("m", silence(1.1), OPTIONS)
            assert transcript.text == "um dois"
            workers = {w.role: w for w in sup.workers()}
            assert set(workers) == {"live", "batch"}
            live, batch = workers["live"].pid, workers["batch"].pid
            assert live is not None
            assert batch is not None
            assert live != batch
            assert niceness(batch) == niceness(live) + 7
            assert niceness(live) == niceness(os.getpid())
            assert workers["live"].in_flight == 1
            assert workers["batch"].in_flight == 0
            assert (await stream.complete()).text == "um"
        assert await sup.unload("m")  # both
        assert sup.workers() == []
        assert not alive(live)
        assert not alive(batch)


async def test_without_batch_nice_one_worker_serves_both(tmp_path: Path) -> None:
    async with Supervisor(resolver(tmp_path, m={}), FAST) as sup:
        await sup.transcribe_file("m", silence(0.5), OPTIONS)
        async with sup.stream("m", OPTIONS) as stream:
            await stream.accept(silence(0.5))
            (status,) = sup.workers()
            assert status.role == "live"
            assert status.pid is not None
            assert niceness(status.pid) == niceness(os.getpid())
            assert status.in_flight == 1
