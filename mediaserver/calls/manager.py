"""Calls as the transports see them: one `Call` per live call, owned by the `CallManager`.

Every transport decodes its wire format to PCM16 at the source rate and calls `Call.feed`;
everything after that happens behind this interface, on the event loop, without awaiting:

    feed -> CallCore (preprocess, ring buffer, VAD pre-filter)     [session.call, pure]
    VadTicker: one batched Silero inference for all fed calls -> Call.vad_done
    CallCore -> events -> EventHub (bounded queue per subscriber)
             -> engine commands -> CallTranscriber (its own task; partials, finals, acks)
    timers: loop.call_at(core.next_deadline()) -> CallCore.tick

Time is the loop's monotonic clock (`loop.time()`). Anything that goes wrong inside one call
(a bug, a broken VAD stream, an engine failure) is contained in that call: it gets an `error`
event and, if it cannot go on, closes; no exception reaches the transport or another call.

A transport, on the event loop (`runtime.calls` is the server's manager):

    try:
        call = manager.create(Transport.RTP, options, TransportInfo(codec="PCMU",
                              stats=my_counters), call_id=None, on_close=free_my_port)
    except CallOptionsError / CallRefused as exc:      # api.calls.api_error(exc) -> 400/409/503
        ...
    call.feed(pcm16_bytes, 8000)       # per decoded frame; sync, never blocks
    call.dtmf("5"); call.commit()      # peer digits; WS input_audio_buffer.commit
    call.muted = True / False          # while the call speaks TTS (input discarded, no HOLD)
    call.speaker.speak("texto")        # TTS into the call (see `transports.speaker`)
    call.emit("session.rate_limit", ...)   # the transport's own events, in order
    async for event in call.subscribe(): ...   # dicts; ends after session.closed
    await call.close("hangup")         # flush finals, session.closed, then on_close runs
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import structlog

from mediaserver.audio.vad import SileroModel, VadBatcher
from mediaserver.calls.call import Call
from mediaserver.calls.drain import Drainer
from mediaserver.calls.event_hub import DEFAULT_QUEUE_EVENTS, Subscription
from mediaserver.calls.postprocess import Postprocess, default_postprocess
from mediaserver.calls.recognizers import LocalRecognizers, Recognizers
from mediaserver.calls.speaker import Synthesizer
from mediaserver.calls.types import CallRefused, Transport, TransportInfo
from mediaserver.calls.vad_ticker import DEFAULT_INTERVAL_S, VadTicker
from mediaserver.config import Settings
from mediaserver.engines.base import ModelNotFoundError
from mediaserver.engines.models.registry import Registry
from mediaserver.observability import Metrics
from mediaserver.session.call_options import CallOptions, parse_call_options

__all__ = [
    "Call",
    "CallManager",
    "CallRefused",
    "Subscription",
    "Transport",
    "TransportInfo",
]

log = structlog.get_logger("mediaserver.calls")

CLOSE_MARGIN_S: Final = 5.0
CALL_ID_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")


class CallManager:
    """Every live call of the server, whatever its transport, and what they share: the VAD
    network (loaded once in `start`), the ticker that batches it, the speech engines."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        engines: Recognizers | None = None,
        postprocess: Postprocess | None = None,
        *,
        vad_model: SileroModel | None = None,
        tick_s: float = DEFAULT_INTERVAL_S,
        queue_events: int = DEFAULT_QUEUE_EVENTS,
        max_calls: int = 0,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.recognizers: Recognizers = (
            engines if engines is not None else LocalRecognizers(Registry.from_settings(settings))
        )
        # Closed by the manager only when it built it; a shared one belongs to its owner.
        self._own_postprocess = postprocess is None
        self.postprocess: Postprocess = (
            postprocess if postprocess is not None else default_postprocess(settings, metrics)
        )
        self.queue_events = queue_events
        self.max_calls = max_calls  # 0 = no limit
        # The one draining flag of the server (`/ready`, refusals); the drainer raises it.
        self.draining = False
        # Every bulk end of calls goes through it: SIGTERM, the server stopping, `stop`. A
        # close waits for the call's pending finals, which the session bounds by its closing
        # timeout; a margin on top covers the post-processing and the last events.
        self.drainer = Drainer(
            self,
            timeout_s=settings.server.drain_timeout_s,
            grace_s=settings.server.drain_grace_s,
            close_timeout_s=settings.session.closing_timeout_s + CLOSE_MARGIN_S,
        )
        self._vad_model = vad_model
        self._tick_s = tick_s
        self._ticker: VadTicker | None = None
        self._calls: dict[str, Call] = {}
        self._background: set[asyncio.Future[Any]] = set()
        self.events_dropped = 0
        # What calls speak with (`Call.speaker`); set by the app, None: calls cannot speak.
        self.synthesizer: Synthesizer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the VAD network (once, shared by every call) and start the ticker."""
        if self._ticker is not None:
            return
        model = self._vad_model
        if model is None:
            model = await asyncio.get_running_loop().run_in_executor(None, SileroModel)
            self._vad_model = model
        self._ticker = VadTicker(
            VadBatcher(model), self._tick_s, self.metrics.vad_tick_seconds.observe
        )
        self._ticker.start()

    async def stop(self, drain_s: float | None = None) -> None:
        """Refuse new calls, close every call (flushing finals) through the drain, then stop
        the ticker and the engines. `drain_s` bounds each call's close."""
        await self.drainer.drain(wait=False, close_timeout_s=drain_s)
        for call in self.calls():  # a close that did not finish in time ends now
            call.abort(TimeoutError("drain timeout"))
        if self._ticker is not None:
            await self._ticker.aclose()
            self._ticker = None
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.recognizers.aclose()
        close = getattr(self.postprocess, "close", None)
        if self._own_postprocess and close is not None:
            close()

    @property
    def ticker(self) -> VadTicker:
        if self._ticker is None:
            raise RuntimeError("CallManager.start() has not run")
        return self._ticker

    @property
    def batcher(self) -> VadBatcher:
        return self.ticker.batcher

    # -- the contract ------------------------------------------------------------------------

    def create(
        self,
        transport: Transport,
        options: Mapping[str, Any],
        info: TransportInfo,
        *,
        call_id: str | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> Call:
        """Validate `options` (the call-creation JSON: model, language, hot_words, vad, timeouts,
        denoise, itn/entities/redact...) and start a call. Raises `ValueError` with a precise
        message for bad options and `CallRefused` while draining or at the call limit.
        `on_close` runs once when the call is closed (the transport frees its port/socket).
        A call whose STT model is not installed is refused (`CallRefused(404,
        "model_not_found")`, naming `mediaserver pull NAME`); `"model": null` asks for none."""
        parsed = self.check_options(options)
        if call_id is not None and not CALL_ID_RE.fullmatch(call_id):
            raise ValueError(
                "call_id must be 1-128 letters, digits, '.', '_' or '-' (it goes into URLs)"
            )
        if self.draining:
            raise CallRefused(503, "draining", "the server is shutting down; no new calls")
        if self._ticker is None:
            raise CallRefused(503, "not_ready", "the call service has not started yet")
        if self.max_calls and len(self._calls) >= self.max_calls:
            raise CallRefused(
                503, "too_many_calls", f"the server is at its limit of {self.max_calls} calls"
            )
        call_id = uuid.uuid4().hex if call_id is None else call_id
        if call_id in self._calls:
            raise CallRefused(409, "call_exists", f"a call with id {call_id!r} already exists")
        call = Call(self, call_id, Transport(transport), parsed, info, on_close)
        self._calls[call_id] = call
        self.metrics.calls_started.labels(transport=call.transport.value).inc()
        self.metrics.calls_active.inc()
        call.start()
        log.info("call.created", call_id=call_id, transport=call.transport.value)
        return call

    def check_options(self, options: Mapping[str, Any]) -> CallOptions:
        """The parsed options if a call could be created with them (WS `session.configure`
        asks before it replaces its call). Raises `CallOptionsError` or `CallRefused` (404
        `model_not_found`): a call that could never transcribe fails here, not silently."""
        parsed = parse_call_options(options, self.settings)
        if parsed.model is not None:
            try:
                self.recognizers.require(parsed.model)
            except ModelNotFoundError as exc:
                raise CallRefused(404, "model_not_found", str(exc), "model") from None
        return parsed

    def get(self, call_id: str) -> Call:
        """Raises KeyError for an unknown id."""
        return self._calls[call_id]

    def calls(self) -> list[Call]:
        return list(self._calls.values())

    # -- used by calls -----------------------------------------------------------------------

    def discard(self, call: Call) -> None:
        if self._calls.get(call.id) is call:
            del self._calls[call.id]
            self.metrics.calls_active.dec()

    def vad_pending(self, call: Call) -> None:
        """`call` was fed: its VAD runs on the next tick."""
        self.ticker.mark(call)

    def vad_forget(self, call: Call) -> None:
        if self._ticker is not None:
            self._ticker.forget(call)

    def count_drop(self) -> None:
        self.events_dropped += 1
        self.metrics.call_events_dropped.inc()

    def background(self, task: asyncio.Future[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)
