"""A worker already running elsewhere (TCP host:port): the supervisor connects, never spawns."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from mediaserver.engines.base import TranscribeOptions
from mediaserver.engines.errors import WorkerCrashed
from mediaserver.engines.supervision.spec import WorkerSpec
from mediaserver.engines.supervision.supervisor import Supervisor
from tests.fake_engine import write_script
from tests.integration.workers_support import FAKE_STT, FAKE_TTS, FAST, alive, silence

OPTIONS = TranscribeOptions(language="pt")


async def start_worker(
    model_dir: Path, engine: str, kind: str = "stt"
) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mediaserver.engines.ipc.worker",
        "--engine", engine, "--kind", kind, "--model-dir", str(model_dir),
        "--model-name", "remote", "--listen", "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 10)
    assert line.startswith(b"LISTENING 127.0.0.1:"), line
    return proc, line.split()[1].decode()


@pytest.fixture
async def remote(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    proc, address = await start_worker(write_script(tmp_path / "remote"), FAKE_STT)
    yield proc, address
    if proc.returncode is None:
        proc.terminate()
        await proc.wait()


async def test_remote_worker_over_tcp(
    tmp_path: Path, remote: tuple[asyncio.subprocess.Process, str]
) -> None:
    proc, address = remote
    spec = WorkerSpec(model="r", engine=FAKE_STT, model_dir=tmp_path, address=address)
    resolved: list[str] = []

    def resolve(name: str) -> WorkerSpec:
        resolved.append(name)
        return spec

    # A worker run elsewhere serves files too: no second (batch) worker is spawned for it.
    async with Supervisor(resolve, dataclasses.replace(FAST, batch_nice=19)) as sup:
        transcript = await sup.transcribe_file("r", silence(1.0), OPTIONS)
        async with sup.stream("r", OPTIONS) as stream:
            partial = await stream.accept(silence(0.5, np.int16))
            final = await stream.complete()
        await sup.transcribe_file("r", silence(1.0), OPTIONS)
        (status,) = sup.workers()
    assert resolved == ["r"]  # read once; later files find the worker without the registry
    assert transcript.text == "um dois"
    assert partial.text == "um"
    assert final.is_final
    assert status.address == address
    assert status.pid == proc.pid
    # Not ours: the supervisor leaves a remote worker running when it stops.
    assert proc.returncode is None
    assert alive(proc.pid)


async def test_remote_worker_death_is_a_recoverable_stream_error(
    tmp_path: Path, remote: tuple[asyncio.subprocess.Process, str]
) -> None:
    proc, address = remote
    spec = WorkerSpec(model="r", engine=FAKE_STT, model_dir=tmp_path, address=address)
    async with Supervisor(lambda name: spec, FAST) as sup, sup.stream("r", OPTIONS) as stream:
        await stream.accept(silence(0.2))
        proc.kill()
        await proc.wait()
        with pytest.raises(WorkerCrashed) as info:
            await asyncio.wait_for(stream.accept(silence(0.2)), 1.0)
    assert info.value.recoverable


async def test_tts_worker_plumbing(tmp_path: Path) -> None:
    spec = WorkerSpec(model="voice", engine=FAKE_TTS, model_dir=tmp_path, kind="tts")
    async with Supervisor(lambda name: spec, FAST) as sup:
        chunks = [c async for c in sup.synthesize("voice", "olá mundo", "pt-br")]
        (status,) = sup.workers()
    assert [rate for _, rate in chunks] == [24000, 24000]
    assert all(len(pcm) == 2 * 2400 for pcm, _ in chunks)
    assert status.kind == "tts"
