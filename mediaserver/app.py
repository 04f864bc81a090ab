"""Starlette application factory and lifespan."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware

from mediaserver import __version__
from mediaserver.api import calls as calls_api
from mediaserver.api import calls_rtp, errors, health, transcriptions
from mediaserver.api import demo as demo_page
from mediaserver.api import models as models_api
from mediaserver.api import realtime as realtime_api
from mediaserver.api import speak as speak_api
from mediaserver.api import speech as speech_api
from mediaserver.api import webrtc as webrtc_api
from mediaserver.api.auth import ApiKeyMiddleware
from mediaserver.config import Settings
from mediaserver.decoding.sandbox import DecodeSandbox, SandboxLimits
from mediaserver.domain.pipeline import Postprocessor
from mediaserver.engines.registry import Registry
from mediaserver.engines.service import build_supervisor
from mediaserver.engines.speech import SpeechService
from mediaserver.engines.supervisor import Supervisor
from mediaserver.observability import Metrics
from mediaserver.transports.audiosocket import AudioSocketServer
from mediaserver.transports.calls import Call, CallManager
from mediaserver.transports.postprocess import ThreadedPostprocess, default_postprocess
from mediaserver.transports.rtp import RtpTransport
from mediaserver.transports.speaker import ServiceSynthesizer
from mediaserver.transports.webrtc import WebRtcGateway
from mediaserver.transports.worker_recognizers import WorkerRecognizers

log = structlog.get_logger("mediaserver.app")
T = TypeVar("T")


@dataclass
class Runtime:
    """What the routes share: settings, metrics and the long-lived services."""

    settings: Settings
    metrics: Metrics
    draining: bool = False
    # The live calls, for the SIGTERM drain; the call core points this at CallManager.calls.
    active_calls: Callable[[], Sequence[Call]] = list
    # Engine workers (one process per model in use), started on first use.
    supervisor: Supervisor = field(init=False)
    # Every live call of every transport (built in create_app, started in the lifespan).
    calls: CallManager = field(init=False)
    # UDP ports for POST /v1/calls; None when rtp.enabled is false.
    rtp: RtpTransport | None = None
    # Installed models (what the supervisor resolves names against).
    registry: Registry = field(init=False)
    # The one post-processing pipeline (ITN, entities, hot words), on its own thread; calls
    # and batch requests share it (built in create_app, warmed up in the lifespan).
    postprocessing: ThreadedPostprocess = field(init=False)
    # Text to speech (POST /v1/audio/speech): audio cache and warm-up here, engines in workers.
    speech: SpeechService = field(init=False)
    # Uploaded files are decoded in child processes under limits, never in this one.
    decoder: DecodeSandbox = field(init=False)

    async def postprocess(self, fn: Callable[[Postprocessor], T]) -> T:
        """Run `fn(postprocessor)` on the post-processing thread (NeMo calls block)."""
        return await self.postprocessing.run(fn)

    # Peer connections of WebRTC calls (POST /v1/webrtc/offer).
    webrtc: WebRtcGateway = field(default_factory=WebRtcGateway)
    # The AudioSocket TCP listener (None when disabled); started in the lifespan.
    audiosocket: AudioSocketServer | None = None


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings, metrics: Metrics | None = None, *, freeze_heap: bool = False
) -> Starlette:
    """`freeze_heap` (the server process, not tests): after start-up, move every object
    then alive out of the garbage collector's sight (`gc.freeze`), so its full collections
    stop re-scanning modules, models and grammars: at 400 calls they stalled the event loop
    80-150 ms each."""
    runtime = Runtime(settings=settings, metrics=metrics or Metrics())
    registry = Registry.from_settings(settings)
    runtime.registry = registry
    runtime.supervisor = build_supervisor(settings, registry, runtime.metrics)
    runtime.speech = SpeechService(runtime.supervisor, registry, settings, runtime.metrics)
    runtime.postprocessing = default_postprocess(settings, runtime.metrics)
    runtime.decoder = DecodeSandbox(SandboxLimits.from_settings(settings.server))
    runtime.calls = CallManager(
        settings,
        runtime.metrics,
        WorkerRecognizers(runtime.supervisor, registry),
        postprocess=runtime.postprocessing,
        draining=lambda: runtime.draining,
    )
    runtime.active_calls = runtime.calls.calls
    runtime.calls.synthesizer = ServiceSynthesizer(runtime.speech)  # calls speak through it
    if settings.rtp.enabled:
        runtime.rtp = RtpTransport(settings.rtp, runtime.calls, runtime.metrics)
    if settings.audiosocket.enabled:
        runtime.audiosocket = AudioSocketServer(
            settings.audiosocket, runtime.calls, runtime.metrics
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("server.start", version=__version__, host=settings.server.host)
        # Before anything is live: loading (or first building) NeMo's grammars holds the GIL
        # for up to seconds, which would stall every call's audio if done while serving.
        await runtime.postprocessing.start()
        await runtime.supervisor.start()
        await runtime.calls.start()
        runtime.speech.start_warm_up()
        try:
            if runtime.audiosocket is not None:
                await runtime.audiosocket.start()
            if freeze_heap:
                freeze_startup_heap()
            yield
        finally:
            runtime.draining = True
            await runtime.calls.stop()
            if runtime.rtp is not None:
                await runtime.rtp.close()
            if runtime.audiosocket is not None:
                await runtime.audiosocket.stop()  # after the drain: its calls have hung up
            await runtime.webrtc.close()
            await runtime.speech.aclose()
            await runtime.decoder.aclose()
            await runtime.supervisor.close()
            runtime.postprocessing.close()
            log.info("server.stop")

    app = Starlette(
        routes=[
            *health.routes,
            *calls_api.routes,
            *transcriptions.routes,
            *models_api.routes,
            *speech_api.routes,
            *calls_rtp.routes,
            *speak_api.routes,
            *webrtc_api.routes,
            *realtime_api.routes,
            *demo_page.routes,
        ],
        exception_handlers=errors.EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=[
            Middleware(errors.InternalErrorMiddleware),
            Middleware(ApiKeyMiddleware, keys=settings.server.api_keys),
        ],
    )
    app.state.runtime = runtime
    return app
