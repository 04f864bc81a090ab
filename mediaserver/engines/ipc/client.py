"""The runtime side of the worker protocol: a typed asyncio client over gRPC.

Addresses are `unix:///path/to.sock` (a worker this process spawned) or `host:port` (a worker
running elsewhere). gRPC failures become the errors of `mediaserver.engines.errors`: a broken
connection is `WorkerCrashed` (recoverable), a rejected request `EngineRequestError`.

Cancelling the asyncio task that awaits a request cancels the gRPC call and also sends a Cancel
RPC naming the request, so the engine stops at its next progress step even if the call's
cancellation is slow to arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt

from mediaserver.engines.base import (
    Architecture,
    Capabilities,
    Hypothesis,
    ProgressCallback,
    TranscribeOptions,
    Transcript,
)
from mediaserver.engines.errors import (
    EngineError,
    EngineFailure,
    EngineOverloadedError,
    EngineRequestError,
    EngineTimeout,
    RequestCancelledError,
    WorkerCrashed,
)
from mediaserver.engines.ipc import convert
from mediaserver.engines.ipc.proto import engine_pb2 as pb
from mediaserver.engines.ipc.proto import engine_pb2_grpc as pb_grpc

PcmAudio = npt.NDArray[np.float32] | npt.NDArray[np.int16]
MAX_MESSAGE_BYTES = 2**31 - 1
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Reconnect fast to a restarted worker (gRPC waits 1 s and more by default).
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
CANCEL_RPC_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    kind: str
    engine: str
    model: str
    loaded: bool
    load_error: str
    pid: int
    rss_bytes: int
    active_requests: int
    architecture: Architecture | None = None
    capabilities: Capabilities | None = None
    details: dict[str, str] = field(default_factory=dict)
    finals_hurried: int = 0  # totals since the worker started
    partials_skipped: int = 0


def error_from_rpc(err: grpc.aio.AioRpcError) -> EngineError:
    return error_from_status(err.code(), err.details() or "")


def error_from_status(code: grpc.StatusCode, details: str) -> EngineError:
    """Whose fault, and may the caller retry: the status code decides."""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return EngineRequestError(details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return EngineTimeout(f"worker did not answer in time: {details}")
    if code == grpc.StatusCode.CANCELLED:
        return RequestCancelledError(details)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and details.startswith("engine overloaded"):
        return EngineOverloadedError(details)
    if code == grpc.StatusCode.INTERNAL and details.startswith("engine error:"):
        return EngineFailure(details)
    # UNAVAILABLE (socket closed, connection refused or reset) and anything else the transport
    # reports: the worker is gone or going.
    return WorkerCrashed(f"worker connection failed ({code.name}): {details}")


def _health_from_pb(msg: Any) -> WorkerHealth:
    loaded_stt = msg.kind == "stt" and msg.loaded
    return WorkerHealth(
        kind=msg.kind,
        engine=msg.engine,
        model=msg.model,
        loaded=msg.loaded,
        load_error=msg.load_error,
        pid=msg.pid,
        rss_bytes=msg.rss_bytes,
        active_requests=msg.active_requests,
        architecture=Architecture(msg.architecture) if loaded_stt else None,
        capabilities=convert.capabilities_from_pb(msg.capabilities) if loaded_stt else None,
        details=dict(msg.details),
        finals_hurried=msg.finals_hurried,
        partials_skipped=msg.partials_skipped,
    )


class WorkerClient:
    """One channel to one worker; cheap to keep, safe to share between tasks."""

    def __init__(self, address: str, kind: str = "stt") -> None:
        self.address = address
        self.kind = kind
        self._channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        stub_class = pb_grpc.SttWorkerStub if kind == "stt" else pb_grpc.TtsWorkerStub
        self._stub = stub_class(self._channel)
        self._background: set[asyncio.Task[Any]] = set()
        self._closed_error: EngineError | None = None
        # Called when a call finds the connection broken: the supervisor restarts the worker
        # without waiting for its next health ping.
        self.on_broken: Callable[[], None] | None = None

    def report_broken(self) -> None:
        if self._closed_error is None and self.on_broken is not None:
            self.on_broken()

    async def close(self, error: EngineError | None = None) -> None:
        """Close the channel; calls still in flight raise `error` (default WorkerCrashed)."""
        self._closed_error = error or WorkerCrashed(f"connection to {self.address} closed")
        await self._channel.close()

    def _rpc_error(self, err: grpc.aio.AioRpcError) -> EngineError:
        if self._closed_error is not None and err.code() == grpc.StatusCode.CANCELLED:
            return self._closed_error  # cancelled by our own close, not by the worker
        error = error_from_rpc(err)
        if isinstance(error, WorkerCrashed):
            self.report_broken()
        return error

    @contextlib.contextmanager
    def _errors_of(self, call: Any, request_id: str) -> Iterator[None]:
        """Errors of an RPC in flight, as engine errors: the worker's status, or our own
        close of the channel (which grpc.aio reports as a cancellation)."""
        try:
            yield
        except grpc.aio.AioRpcError as err:
            raise self._rpc_error(err) from None
        except asyncio.CancelledError:
            if (error := self._interrupted(call, request_id)) is not None:
                raise error from None
            raise

    def _interrupted(self, call: Any, request_id: str) -> EngineError | None:
        """After a CancelledError: grpc.aio raises it both when our caller's task is cancelled
        and when the channel was closed under the call. Return the error for the latter."""
        task = asyncio.current_task()
        if self._closed_error is not None and (task is None or task.cancelling() == 0):
            return self._closed_error
        call.cancel()
        self.cancel_soon(request_id)
        return None

    async def health(
        self, deadline_s: float, *, wait_for_ready: bool = False, details: bool = False
    ) -> WorkerHealth:
        """Liveness and load state; `details=True` also asks the engine for its own health."""
        try:
            msg = await self._stub.Health(
                pb.HealthRequest(details=details), timeout=deadline_s, wait_for_ready=wait_for_ready
            )
        except grpc.aio.AioRpcError as err:
            raise error_from_rpc(err) from None
        return _health_from_pb(msg)

    async def cancel(self, request_id: str) -> bool:
        try:
            reply = await self._stub.Cancel(
                pb.CancelRequest(request_id=request_id), timeout=CANCEL_RPC_TIMEOUT_S
            )
        except grpc.aio.AioRpcError:
            return False  # the worker is gone, so is the request
        return bool(reply.found)

    def cancel_soon(self, request_id: str) -> None:
        """Send Cancel without waiting (from a cancelled task, which must not await)."""
        task = asyncio.get_running_loop().create_task(self.cancel(request_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def transcribe_file(
        self,
        audio: PcmAudio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
        request_id: str | None = None,
    ) -> Transcript:
        """Transcribe mono 16 kHz audio; `progress(done_s, total_s)` is called as it goes."""
        rid = request_id or uuid.uuid4().hex
        request = pb.TranscribeFileRequest(
            request_id=rid, audio=convert.audio_to_pb(audio), options=convert.options_to_pb(options)
        )
        call = self._stub.TranscribeFile(request)
        with self._errors_of(call, rid):
            async for event in call:
                if event.WhichOneof("event") == "transcript":
                    return convert.transcript_from_pb(event.transcript)
                if progress is not None:
                    progress(event.progress.done_s, event.progress.total_s)
        raise WorkerCrashed("worker ended the transcription without a result")

    def open_stream(
        self, options: TranscribeOptions, *, request_id: str | None = None
    ) -> RemoteSttStream:
        """Start a streaming transcription (one utterance); see `RemoteSttStream`."""
        rid = request_id or uuid.uuid4().hex
        config = pb.StreamConfig(request_id=rid, options=convert.options_to_pb(options))
        return RemoteSttStream(self, pb.StreamInput(config=config), rid)

    async def synthesize(
        self, text: str, voice: str, *, speed: float = 1.0, request_id: str | None = None
    ) -> AsyncGenerator[tuple[bytes, int], None]:
        """Yield (PCM16 bytes, sample rate) chunks as the TTS worker produces them."""
        rid = request_id or uuid.uuid4().hex
        call = self._stub.Synthesize(
            pb.SynthesizeRequest(request_id=rid, text=text, voice=voice, speed=speed)
        )
        try:
            with self._errors_of(call, rid):
                async for chunk in call:
                    if chunk.is_last:
                        return
                    yield bytes(chunk.pcm16), int(chunk.sample_rate)
        except GeneratorExit:
            call.cancel()
            self.cancel_soon(rid)
            raise
        raise WorkerCrashed("worker ended the synthesis without its last chunk")


class RemoteSttStream:
    """A streaming transcription on a worker: push audio, read hypotheses, finish or close.

    Each `push` (>= 100 ms of audio) is answered by one hypothesis; `finish` by the final one.
    Either read with `async for hypothesis in stream` alongside pushing, or use `accept` /
    `complete`, which push and then read the answer. If the worker dies, pending and later
    calls raise `WorkerCrashed` (recoverable): open a new stream once the worker is back.

    Pushing only queues the message (gRPC sends it from its own task), so it never blocks on
    a dead connection; failures surface on the next read or push.
    """

    def __init__(self, client: WorkerClient, config: Any, request_id: str) -> None:
        self._client = client
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self._outbox.put_nowait(config)
        self._call = client._stub.TranscribeStream(self._requests())
        self.request_id = request_id
        self._error: EngineError | None = None
        self._input_done = False
        self._finished = False  # the final hypothesis was read
        self.audio_s = 0.0  # audio the worker has acknowledged

    async def _requests(self) -> AsyncIterator[Any]:
        while (msg := await self._outbox.get()) is not None:
            yield msg

    def fail(self, error: EngineError) -> None:
        """Break the stream now with `error` (the supervisor saw the worker die)."""
        if self._error is None and not self._finished:
            self._error = error
            self._call.cancel()

    def _failed(self, error: EngineError) -> EngineError:
        if self._error is None:
            self._error = error
            if isinstance(error, WorkerCrashed):
                self._client.report_broken()
        return self._error

    async def _ended_error(self) -> EngineError:
        if self._error is not None:
            return self._error
        if self._client._closed_error is not None and self._call.cancelled():
            return self._failed(self._client._closed_error)
        code = await self._call.code()
        details = await self._call.details()
        return self._failed(error_from_status(code, details or ""))

    async def _send(self, msg: Any) -> None:
        if self._error is not None:
            raise self._error
        if self._call.done():
            raise await self._ended_error()
        if self._input_done:
            raise RuntimeError("stream input already finished")
        self._outbox.put_nowait(msg)

    async def push(self, audio: PcmAudio) -> None:
        await self._send(pb.StreamInput(audio=convert.audio_to_pb(audio)))

    async def finish(self, audio: PcmAudio | None = None) -> None:
        """No more audio (after `audio`, if given): the worker answers with the final
        hypothesis, and `audio` is not answered with a partial of its own."""
        finish = pb.StreamFinish()
        if audio is not None and len(audio):
            finish.audio.CopyFrom(convert.audio_to_pb(audio))
        await self._send(pb.StreamInput(finish=finish))
        self._input_done = True
        self._outbox.put_nowait(None)

    async def read(self) -> Hypothesis | None:
        """The next hypothesis, or None after the final one."""
        if self._finished:
            return None
        if self._error is not None:
            raise self._error
        try:
            msg = await self._call.read()
        except grpc.aio.AioRpcError as err:
            raise self._failed(self._client._rpc_error(err)) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._error is not None or (task is not None and task.cancelling() == 0):
                raise await self._ended_error() from None  # not our caller's cancellation
            raise
        if msg is grpc.aio.EOF:
            if self._error is None and await self._call.code() == grpc.StatusCode.OK:
                raise self._failed(WorkerCrashed("stream ended before the final hypothesis"))
            raise await self._ended_error()
        self.audio_s = msg.audio_s
        hypothesis = convert.hypothesis_from_pb(msg)
        self._finished = hypothesis.is_final
        return hypothesis

    def __aiter__(self) -> AsyncIterator[Hypothesis]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Hypothesis]:
        while (hypothesis := await self.read()) is not None:
            yield hypothesis

    async def accept(self, audio: PcmAudio) -> Hypothesis:
        """Push a chunk and return the hypothesis for all audio so far."""
        await self.push(audio)
        hypothesis = await self.read()
        if hypothesis is None:
            raise RuntimeError("stream already finished")
        return hypothesis

    async def complete(self, audio: PcmAudio | None = None) -> Hypothesis:
        """Finish (after `audio`, if given) and return the final hypothesis (skipping any
        partials still in flight)."""
        await self.finish(audio)
        final: Hypothesis | None = None
        while (hypothesis := await self.read()) is not None:
            final = hypothesis
        if final is None or not final.is_final:
            raise WorkerCrashed("stream ended without a final hypothesis")
        return final

    async def aclose(self) -> None:
        """Abandon the stream (no-op after the final hypothesis); the worker drops it."""
        self._outbox.put_nowait(None)
        if self._finished or self._call.done():
            return
        self._call.cancel()
        self._client.cancel_soon(self.request_id)
