"""The composition root: every long-lived service of a server, built in one place.

`build_runtime` wires them (settings → registry → supervisor → TTS, post-processing → calls →
transports); `Runtime.start`/`stop` run their lifecycles in order. The HTTP routes reach it
through `api.context.runtime_of`, the CLI through the app it builds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from mediaserver.calls.drain import Drainer
from mediaserver.calls.manager import CallManager
from mediaserver.calls.postprocess import ThreadedPostprocess, default_postprocess
from mediaserver.calls.speaker import ServiceSynthesizer
from mediaserver.calls.worker_recognizers import WorkerRecognizers
from mediaserver.config import Settings
from mediaserver.decoding.sandbox import DecodeSandbox, SandboxLimits
from mediaserver.domain.pipeline import Postprocessor
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.supervision.build import build_supervisor
from mediaserver.engines.supervision.supervisor import Supervisor
from mediaserver.engines.tts.service import TtsService
from mediaserver.jobs.execute import BatchJobs
from mediaserver.jobs.service import JobService
from mediaserver.observability import Metrics
from mediaserver.transports.audiosocket import AudioSocketServer
from mediaserver.transports.rtp.transport import RtpTransport
from mediaserver.transports.webrtc import WebRtcGateway

log = structlog.get_logger("mediaserver.runtime")
T = TypeVar("T")


@dataclass(slots=True, eq=False)
class Runtime:
    """What the routes share: settings, metrics and the long-lived services."""

    settings: Settings
    metrics: Metrics
    # Installed models (what the supervisor resolves names against).
    registry: Registry
    # Engine workers (one process per model in use), started on first use.
    supervisor: Supervisor
    # Text to speech (POST /v1/audio/speech, calls that speak): cache and warm-up here,
    # engines in workers.
    tts: TtsService
    # The one post-processing pipeline (ITN, entities, hot words) on its own thread, shared by
    # calls and batch requests.
    postprocessing: ThreadedPostprocess
    # Every live call of every transport; it holds the server's one draining flag.
    calls: CallManager
    # Peer connections of WebRTC calls (POST /v1/webrtc/offer).
    webrtc: WebRtcGateway
    # UDP ports for POST /v1/calls; None when rtp.enabled is false.
    rtp: RtpTransport | None
    # The AudioSocket TCP listener; None when disabled.
    audiosocket: AudioSocketServer | None
    # Uploaded files are decoded in child processes under limits, never in this one.
    decoder: DecodeSandbox
    # Transcription jobs (/v1/jobs): SQLite queue, runner at batch priority, webhooks; None
    # when disabled.
    jobs: JobService | None = None

    @property
    def draining(self) -> bool:
        return self.calls.draining

    @property
    def drainer(self) -> Drainer:
        return self.calls.drainer

    async def postprocess(self, fn: Callable[[Postprocessor], T]) -> T:
        """Run `fn(postprocessor)` on the post-processing thread (NeMo calls block)."""
        return await self.postprocessing.run(fn)

    async def start(self) -> None:
        # Before anything is live: loading (or first building) NeMo's grammars holds the GIL
        # for up to seconds, which would stall every call's audio if done while serving.
        await self.postprocessing.start()
        await self.supervisor.start()
        await self.calls.start()
        self.tts.start_warm_up()
        if self.audiosocket is not None:
            await self.audiosocket.start()
        if self.jobs is not None:
            await self.jobs.start()  # after the supervisor: recovered jobs run at once

    async def stop(self) -> None:
        """Drain (or join the SIGTERM drain already under way), then stop every service."""
        if self.jobs is not None:
            await self.jobs.stop()  # jobs under way go back to the queue for the next start
        await self.calls.stop()
        if self.rtp is not None:
            await self.rtp.close()
        if self.audiosocket is not None:
            await self.audiosocket.stop()  # after the drain: its calls have hung up
        await self.webrtc.close()
        await self.tts.aclose()
        await self.decoder.aclose()
        await self.supervisor.close()
        self.postprocessing.close()


def build_runtime(settings: Settings, metrics: Metrics | None = None) -> Runtime:
    metrics = metrics or Metrics()
    registry = Registry.from_settings(settings)
    supervisor = build_supervisor(settings, registry, metrics)
    tts = TtsService(supervisor, registry, settings, metrics)
    postprocessing = default_postprocess(settings, metrics)
    calls = CallManager(
        settings, metrics, WorkerRecognizers(supervisor, registry), postprocess=postprocessing
    )
    calls.synthesizer = ServiceSynthesizer(tts)  # calls speak through it
    rtp = RtpTransport(settings.rtp, calls, metrics) if settings.rtp.enabled else None
    audiosocket = (
        AudioSocketServer(settings.audiosocket, calls, metrics, limits=settings.websocket)
        if settings.audiosocket.enabled
        else None
    )
    runtime = Runtime(
        settings=settings,
        metrics=metrics,
        registry=registry,
        supervisor=supervisor,
        tts=tts,
        postprocessing=postprocessing,
        calls=calls,
        webrtc=WebRtcGateway(),
        rtp=rtp,
        audiosocket=audiosocket,
        decoder=DecodeSandbox(SandboxLimits.from_settings(settings.server)),
    )
    if settings.jobs.enabled and settings.jobs.dir:
        execute = BatchJobs(settings, supervisor, runtime.postprocess)
        runtime.jobs = JobService(settings.jobs, execute)
    return runtime
