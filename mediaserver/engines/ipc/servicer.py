"""The gRPC services a worker process exposes around one loaded engine.

Engine calls are blocking, so they run on a thread pool; the asyncio side only moves messages.
Cancellation reaches a running transcription through its progress callback: the callback raises
`RequestCancelled` as soon as the request's cancel flag is set (by the Cancel RPC or by the
client cancelling the call), so an engine that reports progress often stops within one step.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc
import numpy as np

from mediaserver.engines.base import (
    Audio,
    Hypothesis,
    ModelInfo,
    RedecodingStream,
    SttEngine,
    SttStream,
    TranscribeOptions,
)
from mediaserver.engines.ipc import convert
from mediaserver.engines.ipc.engine_queue import EngineOverloaded, JobKind
from mediaserver.engines.ipc.lanes import EngineLanes
from mediaserver.engines.ipc.proto import engine_pb2 as pb
from mediaserver.engines.ipc.proto import engine_pb2_grpc as pb_grpc
from mediaserver.engines.tts.base import TtsEngine

T = TypeVar("T")
PROGRESS_INTERVAL_S = 0.1  # at most ten progress messages a second per request


class RequestCancelled(Exception):
    """Raised inside the engine thread (from the progress callback) to abandon a request."""


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process from /proc (0 where /proc is not available)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            resident_pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


class WorkerState:
    """Load status and in-flight requests of this worker; shared by its services."""

    def __init__(self, model: ModelInfo, kind: str, executor: Executor) -> None:
        self.model = model
        self.kind = kind
        self.executor = executor
        # Stream decodes (partials, finals) take turns on one lane, finals first; whole-file
        # transcriptions run on the executor beside them.
        self.lanes = EngineLanes(executor)
        self.loaded = False
        self.load_error = ""
        self.load_error_reported = asyncio.Event()
        self._cancel_flags: dict[str, threading.Event] = {}

    def check_request_id(self, request_id: str) -> None:
        if not request_id:
            raise ValueError("request_id is required")
        if request_id in self._cancel_flags:
            raise ValueError(f"request_id {request_id!r} is already in flight")

    @contextmanager
    def track(self, request_id: str) -> Iterator[threading.Event]:
        self.check_request_id(request_id)
        flag = threading.Event()
        self._cancel_flags[request_id] = flag
        try:
            yield flag
        finally:
            del self._cancel_flags[request_id]

    def cancel(self, request_id: str) -> bool:
        flag = self._cancel_flags.get(request_id)
        if flag is None:
            return False
        flag.set()
        return True

    @property
    def active_requests(self) -> int:
        return len(self._cancel_flags)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args))

    def health(self, engine: Any, with_details: bool) -> pb.HealthResponse:
        if self.load_error:
            self.load_error_reported.set()  # the supervisor knows why: the worker may exit
        details: dict[str, str] = {}
        if self.loaded and with_details:
            details = {str(k): str(v) for k, v in engine.health().items()}
        msg = pb.HealthResponse(
            kind=self.kind,
            engine=self.model.engine,
            model=self.model.name,
            loaded=self.loaded,
            load_error=self.load_error,
            rss_bytes=rss_bytes(),
            pid=os.getpid(),
            active_requests=self.active_requests,
            details=details,
            finals_hurried=self.lanes.hurried,
            partials_skipped=self.lanes.skipped,
        )
        if self.kind == "stt" and self.loaded:
            msg.architecture = str(engine.architecture)
            msg.capabilities.CopyFrom(convert.capabilities_to_pb(engine.capabilities))
        return msg

    async def require_loaded(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if not self.loaded:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "model is not loaded yet")


async def abort_for(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> None:
    """Map an engine-side exception to a status: whose fault it is decides the code."""
    if isinstance(exc, RequestCancelled):
        await context.abort(grpc.StatusCode.CANCELLED, "request cancelled")
    if isinstance(exc, ValueError):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    if isinstance(exc, EngineOverloaded):
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"engine overloaded: {exc}")
    await context.abort(grpc.StatusCode.INTERNAL, f"engine error: {type(exc).__name__}: {exc}")


def _consume_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # RequestCancelled, expected: retrieved so asyncio does not log it


class _ControlMethods:
    """Cancel and Health, the same for the STT and TTS services."""

    engine: Any
    state: WorkerState

    async def Cancel(  # gRPC method name
        self, request: pb.CancelRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CancelResponse:
        return pb.CancelResponse(found=self.state.cancel(request.request_id))

    async def Health(  # gRPC method name
        self, request: pb.HealthRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.HealthResponse:
        return self.state.health(self.engine, request.details)


class SttServicer(_ControlMethods, pb_grpc.SttWorkerServicer):  # type: ignore[misc]  # generated base
    def __init__(self, engine: SttEngine, state: WorkerState) -> None:
        self.engine = engine
        self.state = state

    async def TranscribeFile(  # gRPC method name
        self, request: pb.TranscribeFileRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.TranscribeFileEvent]:
        await self.state.require_loaded(context)
        try:
            audio = convert.audio_from_pb(request.audio)
            options = convert.options_from_pb(request.options)
            self.state.check_request_id(request.request_id)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        with self.state.track(request.request_id) as cancel:
            async for event in self._transcribe(audio, options, cancel, context):
                yield event

    async def _transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        cancel: threading.Event,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.TranscribeFileEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[pb.TranscribeFileEvent | None] = asyncio.Queue()
        last_sent = [0.0]
        # The latest report not sent yet: a burst of segments (batched decoding yields a whole
        # batch at once) must end on its last position, not on the first one let through.
        held: list[pb.TranscribeFileEvent | None] = [None]

        def progress(done: float, total: float) -> None:  # runs on the engine thread
            if cancel.is_set():
                raise RequestCancelled
            event = pb.TranscribeFileEvent(progress=pb.Progress(done_s=done, total_s=total))
            now = time.monotonic()
            if now - last_sent[0] >= PROGRESS_INTERVAL_S:
                last_sent[0] = now
                held[0] = None
                loop.call_soon_threadsafe(queue.put_nowait, event)
            else:
                if held[0] is None:  # first one held: send it when the interval is over
                    loop.call_soon_threadsafe(loop.call_later, PROGRESS_INTERVAL_S, flush)
                held[0] = event

        def flush() -> None:  # on the loop
            event = held[0]
            if event is not None:
                held[0] = None
                last_sent[0] = time.monotonic()
                queue.put_nowait(event)

        def finished(_: object) -> None:
            # Runs on the loop after the engine thread returned: its last report is visible.
            if held[0] is not None:
                queue.put_nowait(held[0])
            queue.put_nowait(None)

        future = loop.run_in_executor(
            self.state.executor,
            functools.partial(self.engine.transcribe_file, audio, options, progress),
        )
        # Queued after any progress the engine thread scheduled before it returned.
        future.add_done_callback(finished)
        try:
            while (event := await queue.get()) is not None:
                yield event
            transcript = future.result()
        except Exception as exc:  # mapped to a status the client understands
            await abort_for(context, exc)
            raise
        finally:
            # However we leave (client gone: CancelledError, or GeneratorExit when the server
            # closes this generator), the engine stops at its next progress call.
            if not future.done():
                cancel.set()
                future.add_done_callback(_consume_exception)
        yield pb.TranscribeFileEvent(transcript=convert.transcript_to_pb(transcript))

    async def TranscribeStream(  # gRPC method name
        self,
        requests: AsyncIterator[pb.StreamInput],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.Hypothesis]:
        await self.state.require_loaded(context)
        first = await anext(requests, None)
        if first is None or first.WhichOneof("input") != "config":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "first message must be config")
            return
        try:
            options = convert.options_from_pb(first.config.options)
            self.state.check_request_id(first.config.request_id)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        with self.state.track(first.config.request_id) as cancel:
            try:
                stream = await self.state.run(self.engine.open_stream, options)
                async for hypothesis in self._stream(stream, requests, cancel, context):
                    yield hypothesis
            except Exception as exc:
                await abort_for(context, exc)
                raise
            finally:
                cancel.set()  # nothing more will be accepted on this stream

    async def _stream(
        self,
        stream: SttStream,
        requests: AsyncIterator[pb.StreamInput],
        cancel: threading.Event,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.Hypothesis]:
        received = 0
        async for msg in requests:
            if cancel.is_set():
                raise RequestCancelled
            kind = msg.WhichOneof("input")
            if kind == "audio":
                audio = convert.audio_from_pb(msg.audio)
                received += len(audio)
                hypothesis = await self._partial(stream, audio)
                yield convert.hypothesis_to_pb(hypothesis, received / convert.STT_RATE)
            elif kind == "finish":
                if msg.finish.HasField("audio"):
                    tail = convert.audio_from_pb(msg.finish.audio)
                    received += len(tail)
                    await self._append(stream, tail)
                hurried = stream.finish_hurried if isinstance(stream, RedecodingStream) else None
                final = await self.state.lanes.run(JobKind.FINAL, stream.finish, hurried=hurried)
                yield convert.hypothesis_to_pb(final, received / convert.STT_RATE)
                return
            else:
                raise ValueError(f"unexpected {kind!r} message after config")

    async def _partial(self, stream: SttStream, audio: Audio) -> Hypothesis:
        lanes = self.state.lanes
        if isinstance(stream, RedecodingStream):
            # Buffering is cheap (done here); only a due re-decode waits for the engine, and
            # one that goes stale while waiting is answered with the previous hypothesis.
            if not stream.append(audio):
                return stream.last()
            return await lanes.run(JobKind.PARTIAL, stream.redecode, skip=stream.last)
        return await lanes.run(JobKind.PARTIAL, functools.partial(stream.accept, audio))

    async def _append(self, stream: SttStream, audio: Audio) -> None:
        """Audio right before the final: no partial is wanted for it."""
        if isinstance(stream, RedecodingStream):
            stream.append(audio)
        else:  # a streaming engine must see every chunk in order
            await self.state.lanes.run(JobKind.FINAL, functools.partial(stream.accept, audio))


class TtsServicer(_ControlMethods, pb_grpc.TtsWorkerServicer):  # type: ignore[misc]  # generated base
    def __init__(self, engine: TtsEngine, state: WorkerState) -> None:
        self.engine = engine
        self.state = state

    async def Synthesize(  # gRPC method name
        self, request: pb.SynthesizeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.SynthesizeChunk]:
        await self.state.require_loaded(context)
        try:
            if not request.text.strip():
                raise ValueError("text is empty")
            self.state.check_request_id(request.request_id)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        speed = request.speed or 1.0
        with self.state.track(request.request_id) as cancel:
            try:
                chunks = await self.state.run(
                    self.engine.synthesize, request.text, request.voice, speed
                )
                while not cancel.is_set():
                    chunk = await self.state.run(next, chunks, None)
                    if chunk is None:
                        yield pb.SynthesizeChunk(is_last=True)
                        return
                    pcm = np.asarray(chunk, dtype="<i2").tobytes()
                    rate = self.engine.sample_rate
                    duration = len(chunk) / rate
                    yield pb.SynthesizeChunk(pcm16=pcm, sample_rate=rate, duration_s=duration)
                raise RequestCancelled
            except Exception as exc:
                await abort_for(context, exc)
                raise
            finally:
                cancel.set()
