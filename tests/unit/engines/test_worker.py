"""The worker's gRPC services, served in-process around the scripted engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest

from mediaserver.engines.base import Architecture, ModelInfo, TranscribeOptions
from mediaserver.engines.errors import (
    EngineFailure,
    EngineRequestError,
    EngineTimeout,
    RequestCancelledError,
    WorkerCrashed,
)
from mediaserver.engines.ipc.client import WorkerClient, error_from_status
from mediaserver.engines.ipc.proto import engine_pb2 as pb
from mediaserver.engines.ipc.proto import engine_pb2_grpc as pb_grpc
from mediaserver.engines.ipc.servicer import WorkerState
from mediaserver.engines.ipc.worker import build_server, create_engine, parse_args
from tests.fake_engine import FakeEngine, write_script


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[WorkerClient, WorkerState]]:
    model_dir = write_script(tmp_path / "m", rtf=0.0)
    engine = FakeEngine()
    model = ModelInfo(name="m", path=model_dir, engine="fake")
    engine.load(model)
    executor = ThreadPoolExecutor(max_workers=2)
    state = WorkerState(model, "stt", executor)
    state.loaded = True
    server = build_server(engine, state)
    address = f"unix://{tmp_path}/w.sock"
    server.add_insecure_port(address)
    await server.start()
    client = WorkerClient(address)
    yield client, state
    await client.close()
    await server.stop(None)
    executor.shutdown()


def test_parse_args_needs_one_address() -> None:
    base = ["--engine", "x", "--model-dir", "/m", "--model-name", "m"]
    assert parse_args([*base, "--socket", "unix:///tmp/a.sock"]).socket == "unix:///tmp/a.sock"
    assert parse_args([*base, "--listen", "127.0.0.1:0"]).listen == "127.0.0.1:0"
    for bad in ([], ["--socket", "/tmp/a.sock"], ["--listen", "h:1", "--concurrency", "0"]):
        with pytest.raises(SystemExit):
            parse_args([*base, *bad])


def test_create_engine_from_an_import_path() -> None:
    assert isinstance(create_engine("tests.fake_engine:FakeEngine", "stt"), FakeEngine)
    with pytest.raises(ModuleNotFoundError):
        create_engine("tests.no_such_module:Engine", "stt")


async def test_health_reports_the_engine(served: tuple[WorkerClient, WorkerState]) -> None:
    client, state = served
    assert (await client.health(2.0)).details == {}  # a liveness ping leaves the engine alone
    state.lanes.hurried = 3  # as if 3 finals had been decoded greedily
    ping = await client.health(2.0)
    assert (ping.finals_hurried, ping.partials_skipped) == (3, 0)
    health = await client.health(2.0, details=True)
    assert health.loaded
    assert health.model == "m"
    assert health.architecture == Architecture.ENCODER_DECODER
    assert health.capabilities is not None
    assert health.capabilities.word_timestamps
    assert health.rss_bytes > 0
    assert health.details == {"fake": "True"}


async def test_bad_audio_is_the_callers_fault(served: tuple[WorkerClient, WorkerState]) -> None:
    client, _ = served
    stub = pb_grpc.SttWorkerStub(client._channel)
    request = pb.TranscribeFileRequest(
        request_id="r1", audio=pb.Audio(data=b"\0", format=pb.INT16, sample_rate=16000)
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.TranscribeFile(request):
            pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_stream_must_start_with_config(served: tuple[WorkerClient, WorkerState]) -> None:
    client, _ = served
    stub = pb_grpc.SttWorkerStub(client._channel)
    audio = pb.Audio(data=b"\0\0", format=pb.INT16, sample_rate=16000)

    async def requests() -> AsyncIterator[pb.StreamInput]:
        yield pb.StreamInput(audio=audio)

    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.TranscribeStream(requests()):
            pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config" in (info.value.details() or "")


async def test_a_request_id_in_flight_cannot_be_reused(
    served: tuple[WorkerClient, WorkerState],
) -> None:
    client, state = served
    stream = client.open_stream(TranscribeOptions(), request_id="same")
    await stream.accept(np.zeros(1600, np.float32))
    assert state.active_requests == 1
    with pytest.raises(EngineRequestError, match="already in flight"):
        await client.transcribe_file(
            np.zeros(160, np.float32), TranscribeOptions(), request_id="same"
        )
    final = await stream.complete()
    assert final.is_final
    for _ in range(50):
        if state.active_requests == 0:
            break
        await asyncio.sleep(0.01)
    assert state.active_requests == 0


async def test_cancel_rpc_names_a_request(served: tuple[WorkerClient, WorkerState]) -> None:
    client, _ = served
    assert not await client.cancel("nobody")
    stream = client.open_stream(TranscribeOptions(), request_id="s1")
    await stream.accept(np.zeros(1600, np.float32))
    assert await client.cancel("s1")
    with pytest.raises(RequestCancelledError):
        await stream.accept(np.zeros(1600, np.float32))


@pytest.mark.parametrize(
    ("code", "details", "error"),
    [
        (grpc.StatusCode.UNAVAILABLE, "Socket closed", WorkerCrashed),
        (grpc.StatusCode.INVALID_ARGUMENT, "bad", EngineRequestError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "", EngineTimeout),
        (grpc.StatusCode.CANCELLED, "", RequestCancelledError),
        (grpc.StatusCode.INTERNAL, "engine error: RuntimeError: boom", EngineFailure),
        (grpc.StatusCode.UNKNOWN, "Stream removed", WorkerCrashed),
    ],
)
def test_status_codes_map_to_errors(
    code: grpc.StatusCode, details: str, error: type[Exception]
) -> None:
    mapped = error_from_status(code, details)
    assert type(mapped) is error
    assert mapped.recoverable == (error is WorkerCrashed)
