"""Calls' speech recognition through the engine supervisor: engines in worker processes.

`WorkerRecognizers` implements the calls' `Recognizers` seam on top of the
`Supervisor` (`engines.supervision`): a model name is checked against the registry
(`ModelNotFoundError` names `mediaserver pull NAME`), its worker is started (or reused), and
each utterance becomes one `Supervisor.stream` (realtime priority), entered when the utterance
starts and left when its final is read or the stream is abandoned. A worker that dies breaks
its streams at once with `WorkerCrashed`; the call then re-issues its pending segments on a new
stream, which waits for the restarted worker.

What the supervisor runs for a model (and how many streams a worker serves at once) comes from
`mediaserver.engines.supervision.build.registry_resolver`.
"""

from __future__ import annotations

import contextlib

from mediaserver.calls.recognizers import RecognizerStream, SpeechRecognizer, require_installed
from mediaserver.engines.base import (
    Architecture,
    Audio,
    Capabilities,
    Hypothesis,
    ModelLoadError,
    TranscribeOptions,
)
from mediaserver.engines.ipc.client import RemoteSttStream
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.supervision.supervisor import Supervisor


class _WorkerStream:
    """One utterance on a worker; leaving the supervisor's stream frees its slot."""

    def __init__(self, stack: contextlib.AsyncExitStack, remote: RemoteSttStream) -> None:
        self._stack = stack
        self._remote = remote

    async def accept(self, audio: Audio) -> Hypothesis:
        return await self._remote.accept(audio)

    async def finish(self, audio: Audio | None = None) -> Hypothesis:
        try:
            return await self._remote.complete(audio)
        finally:
            await self._stack.aclose()

    async def aclose(self) -> None:
        await self._stack.aclose()


class WorkerRecognizer:
    def __init__(
        self,
        name: str,
        architecture: Architecture,
        capabilities: Capabilities,
        supervisor: Supervisor,
    ) -> None:
        self.name = name
        self.architecture = architecture
        self.capabilities = capabilities
        self._supervisor = supervisor

    async def open_stream(self, options: TranscribeOptions) -> RecognizerStream:
        stack = contextlib.AsyncExitStack()
        try:
            remote = await stack.enter_async_context(self._supervisor.stream(self.name, options))
        except BaseException:
            await stack.aclose()
            raise
        return _WorkerStream(stack, remote)


class WorkerRecognizers:
    """The `Recognizers` of a server whose engines run under `supervisor` (not owned here)."""

    def __init__(self, supervisor: Supervisor, registry: Registry) -> None:
        self.supervisor = supervisor
        self.registry = registry

    def require(self, model: str) -> None:
        require_installed(self.registry, model)

    async def get(self, model: str) -> SpeechRecognizer:
        installed = self.registry.get(model)  # ModelNotFoundError names the pull command
        manifest = installed.manifest
        if manifest.type != "stt" or manifest.architecture is None:
            raise ModelLoadError(f"model {model!r} is not a speech-to-text model")
        await self.supervisor.load(model)  # start (or reuse) its worker; errors say why
        return WorkerRecognizer(
            model, manifest.architecture, manifest.capabilities, self.supervisor
        )

    async def aclose(self) -> None:
        return None
