"""The seam between calls and speech engines: open a stream per segment, feed it, finish it.

`Recognizers.get(model)` resolves a model name to a loaded `SpeechRecognizer` (raising
`ModelNotFoundError` naming `mediaserver pull NAME` when it is not installed). Calls never touch
an engine directly, so where engines run (in this process on a thread, or in supervised worker
processes) is decided by which `Recognizers` the server is built with.

`Recognizers.require(model)` answers at once, without loading anything, whether the model is
installed: calls are refused at creation for a model that is not (`CallManager.create`).

`LocalRecognizers` runs the engines in this process: each loaded model gets one thread, so an
engine is never entered concurrently and the event loop never blocks on inference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from mediaserver.engines.base import (
    Architecture,
    Audio,
    Capabilities,
    Hypothesis,
    ModelLoadError,
    ModelNotFoundError,
    RedecodingStream,
    SttEngine,
    SttStream,
    TranscribeOptions,
)
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.stt import create_engine

_T = TypeVar("_T")


class RecognizerStream(Protocol):
    async def accept(self, audio: Audio) -> Hypothesis:
        """More audio (>= 100 ms, float32 16 kHz): the hypothesis for the utterance so far."""

    async def finish(self, audio: Audio | None = None) -> Hypothesis:
        """No more audio after `audio` (if given, no partial is made for it): the final."""

    async def aclose(self) -> None:
        """Abandon the stream (no final wanted)."""


class SpeechRecognizer(Protocol):
    name: str
    architecture: Architecture
    capabilities: Capabilities

    async def open_stream(self, options: TranscribeOptions) -> RecognizerStream: ...


class Recognizers(Protocol):
    async def get(self, model: str) -> SpeechRecognizer:
        """A loaded recognizer; ModelNotFoundError / ModelLoadError otherwise."""

    def require(self, model: str) -> None:
        """Raise ModelNotFoundError (naming `mediaserver pull`) unless `model` is installed."""

    async def aclose(self) -> None: ...


def require_installed(registry: Registry, model: str) -> None:
    """ModelNotFoundError unless `model` is installed (or builtin). A model that is there but
    unreadable passes: loading it reports why (`model_load_failed` on the call)."""
    try:
        registry.get(model)
    except ModelNotFoundError:
        raise
    except (ModelLoadError, ValueError):
        pass


@dataclass(slots=True)
class _LocalStream:
    stream: SttStream
    run: Callable[[Callable[[], _T]], asyncio.Future[_T]]

    async def accept(self, audio: Audio) -> Hypothesis:
        return await self.run(lambda: self.stream.accept(audio))

    async def finish(self, audio: Audio | None = None) -> Hypothesis:
        stream = self.stream

        def final() -> Hypothesis:
            if audio is not None and len(audio):
                if isinstance(stream, RedecodingStream):
                    stream.append(audio)
                else:
                    stream.accept(audio)
            return stream.finish()

        return await self.run(final)

    async def aclose(self) -> None:
        return None


class LocalRecognizer:
    """One engine loaded in this process, run on its own thread."""

    def __init__(self, name: str, engine: SttEngine, executor: ThreadPoolExecutor) -> None:
        self.name = name
        self.engine = engine
        self.architecture = engine.architecture
        self.capabilities = engine.capabilities
        self._executor = executor

    def _run(self, fn: Callable[[], _T]) -> asyncio.Future[_T]:
        return asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open_stream(self, options: TranscribeOptions) -> RecognizerStream:
        stream = await self._run(lambda: self.engine.open_stream(options))
        return _LocalStream(stream, self._run)

    def unload(self) -> None:
        self.engine.unload()
        self._executor.shutdown(wait=False, cancel_futures=True)


class LocalRecognizers:
    """Engines loaded on first use from the model registry, kept until `aclose`."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._loading: dict[str, asyncio.Task[LocalRecognizer]] = {}

    def require(self, model: str) -> None:
        require_installed(self.registry, model)

    async def get(self, model: str) -> SpeechRecognizer:
        task = self._loading.get(model)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.create_task(self._load(model))
            self._loading[model] = task
        return await asyncio.shield(task)

    async def _load(self, model: str) -> LocalRecognizer:
        installed = self.registry.get(model)  # ModelNotFoundError names the pull command
        info = installed.model_info()
        if installed.manifest.type != "stt":
            raise ModelLoadError(f"model {model!r} is not a speech-to-text model")
        executor = ThreadPoolExecutor(1, thread_name_prefix=f"stt-{model}")
        engine = create_engine(info.engine)
        try:
            await asyncio.get_running_loop().run_in_executor(executor, engine.load, info)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return LocalRecognizer(model, engine, executor)

    async def aclose(self) -> None:
        tasks, self._loading = list(self._loading.values()), {}
        for task in tasks:
            if not task.done():
                task.cancel()
            elif not task.cancelled() and task.exception() is None:
                task.result().unload()
        await asyncio.gather(*tasks, return_exceptions=True)
