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
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import structlog

from mediaserver.audio.pcm import check_rate
from mediaserver.audio.vad import SileroModel, VadBatcher, VadStream
from mediaserver.config import Settings
from mediaserver.engines.registry import Registry
from mediaserver.observability import Metrics
from mediaserver.session import call_events
from mediaserver.session.call import DTMF_DIGITS, CallCore, CallOutput, pcm_from_bytes
from mediaserver.session.call_events import EventDict
from mediaserver.session.call_options import CallOptions, parse_call_options
from mediaserver.session.states import SessionState
from mediaserver.transports.event_hub import DEFAULT_QUEUE_EVENTS, EventHub, Subscription
from mediaserver.transports.postprocess import Postprocess, default_postprocess
from mediaserver.transports.recognizer import LocalRecognizers, Recognizers
from mediaserver.transports.transcriber import CallTranscriber
from mediaserver.transports.vad_ticker import DEFAULT_INTERVAL_S, VadTicker

__all__ = [
    "Call",
    "CallManager",
    "CallRefused",
    "Subscription",
    "Transport",
    "TransportInfo",
]

log = structlog.get_logger("mediaserver.calls")

CORE_EVENTS: Final = frozenset(
    {"session.created", "session.state", "session.hold", "session.closed", "dtmf"}
)
# Counters every transport reports in GET /v1/calls/{id} (0 where it has none).
BASE_STATS: Final = ("packets_received", "packets_lost", "packets_rejected", "concealed_ms")


class Transport(StrEnum):
    RTP = "rtp"
    AUDIOSOCKET = "audiosocket"
    WEBRTC = "webrtc"
    WEBSOCKET = "websocket"


class CallRefused(Exception):
    """A call cannot be created now (draining, limits); `status` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class TransportInfo:
    """What the transport knows about its side of the call, for GET /v1/calls/{id}."""

    codec: str = ""  # e.g. "PCMU", "PCMA", "L16", "opus", "slin16"
    remote: str | None = None  # "host:port" of the peer once known (never logged)
    # Called on demand to add transport counters to `stats` (packets_received, ...).
    stats: Callable[[], Mapping[str, int | float]] | None = field(default=None, compare=False)


class Call:
    """One live call. Built by `CallManager.create`; transports only call the public methods."""

    def __init__(
        self,
        manager: CallManager,
        call_id: str,
        transport: Transport,
        options: CallOptions,
        info: TransportInfo,
        on_close: Callable[[], None] | None,
    ) -> None:
        self.id = call_id
        self.transport = transport
        self.events_url = f"/v1/calls/{call_id}/events"
        self.options = options
        self.transport_info = info
        self.created_at = time.time()
        self.muted = False  # while True (the call is speaking TTS), input audio is discarded
        self._manager = manager
        self._loop = asyncio.get_running_loop()
        self._core = CallCore(call_id, options, self._loop.time())
        self._hub = EventHub(call_id, limit=manager.queue_events, on_drop=manager.count_drop)
        self._on_close = on_close
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._closed = asyncio.Event()
        self._finalized = False
        self._frames = 0
        self._muted_frames = 0
        self._transcriber = CallTranscriber(
            call_id,
            options,
            manager.recognizers,
            manager.postprocess,
            publish=self._publish,
            ack=self._ack,
            recover=self._core.recover,
            crashed=self._crash,
        )

    # -- the contract ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """Session state name in lower case: init, active, silence, hold, closing, closed."""
        return self._core.state.value

    def feed(self, pcm: bytes, sample_rate: int) -> None:
        """PCM16 little-endian mono at `sample_rate`, any frame size. Never blocks.

        Raises ValueError for a bad frame (odd byte count, bad rate): the transport's bug."""
        if self._finalized:
            return
        samples = pcm_from_bytes(pcm)
        check_rate(sample_rate, "sample_rate")
        if self.muted:
            self._muted_frames += 1
            self._manager.metrics.stt_muted_frames.inc()
            return
        self._frames += 1
        self._step(lambda now: self._core.feed(samples, sample_rate, now))
        if not self._finalized:
            self._manager.ticker.mark(self)

    def dtmf(self, digit: str) -> None:
        """A DTMF digit from the peer (RFC 4733, AudioSocket, WebRTC): emits a `dtmf` event.

        Raises ValueError for anything but 0-9 * # A-D."""
        if digit not in DTMF_DIGITS:
            raise ValueError(f"not a DTMF digit: {digit!r} (expected one of 0-9 * # A-D)")
        self._step(lambda now: self._core.dtmf(digit, now))

    def commit(self) -> None:
        """Force-commit the current speech (WS `input_audio_buffer.commit`)."""
        self._step(self._core.commit)

    async def close(self, reason: str = "requested") -> None:
        """Final flush (pending finals), then `session.closed`; idempotent."""
        if not self._finalized and self._core.state not in (
            SessionState.CLOSING,
            SessionState.CLOSED,
        ):
            self._manager.ticker.forget(self)
            batcher = self._manager.batcher
            self._step(lambda now: self._core.close(now, batcher, reason))
        await self.wait_closed()

    def subscribe(self) -> Subscription:
        """Events of this call from now on (starting with `session.created`), ending after
        `session.closed`. Bounded: a slow subscriber loses its oldest events (and is told how
        many with `session.frames_dropped`), never slows the call."""
        return self._hub.subscribe()

    def info(self, *, detail: bool = False) -> dict[str, Any]:
        """For GET /v1/calls (`detail=False`) and GET /v1/calls/{id} (`detail=True`)."""
        out: dict[str, Any] = {
            "id": self.id,
            "transport": self.transport.value,
            "state": self.state,
            "events_url": self.events_url,
        }
        if not detail:
            return out
        stats: dict[str, int | float] = dict.fromkeys(BASE_STATS, 0)
        if self.transport_info.stats is not None:
            with contextlib.suppress(Exception):  # a transport's bug must not break GET
                stats.update(self.transport_info.stats())
        stats.update(self._stats())
        out.update(
            codec=self.transport_info.codec,
            remote=self.transport_info.remote,
            model=self.options.model,
            language=self.options.language,
            created_at=round(self.created_at, 3),
            audio_ms=self._core.audio_ms,
            subscribers=self._hub.subscribers,
            stats=stats,
        )
        return out

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- for transports that add events of their own (rate limits, TTS) ---------------------

    def emit(self, kind: str, **fields: Any) -> None:
        """Publish a transport's own event (`session.rate_limit`, `tts.speaking_start`, ...)
        to this call's subscribers, in order with the call's events. The call core's own
        events cannot be forged this way (ValueError)."""
        if kind in CORE_EVENTS or kind.startswith(("vad.", "transcript.")):
            raise ValueError(f"{kind!r} is an event of the call core, not of a transport")
        if not self._finalized:
            self._publish(call_events.event(kind, self.id, **fields))

    # -- called by the ticker ----------------------------------------------------------------

    @property
    def vad_stream(self) -> VadStream:
        return self._core.vad

    def vad_done(self, now: float) -> None:
        self._step(self._core.vad_done, now)

    def vad_failed(self, exc: Exception) -> None:
        self._crash(exc)

    # -- internals ---------------------------------------------------------------------------

    def _stats(self) -> dict[str, int | float]:
        vad = self._core.vad
        return {
            "frames_received": self._frames,
            "frames_muted": self._muted_frames,
            "vad_chunks_inferred": vad.inferred_chunks,
            "vad_chunks_skipped": vad.skipped_chunks,
            "partials": self._transcriber.partials,
            "finals": self._transcriber.finals,
            "events_dropped": self._hub.dropped,
        }

    def _step(self, action: Callable[[float], CallOutput], now: float | None = None) -> None:
        """Run one core input and dispatch what it produced; contain any failure."""
        if self._finalized:
            return
        try:
            out = action(self._loop.time() if now is None else now)
        except Exception as exc:  # our bug, confined to this call
            self._crash(exc)
            return
        self._dispatch(out)

    def _dispatch(self, out: CallOutput) -> None:
        for command in out.commands:
            self._transcriber.submit(command)
        for item in out.events:
            self._publish(item)
        if not self._finalized:
            self._arm()

    def _publish(self, item: EventDict, *, sticky: bool = False) -> None:
        self._hub.publish(item, sticky=sticky)
        if item["type"] == "session.closed":
            self._finalize()

    def _ack(self, segment_id: int) -> None:
        self._step(lambda now: self._core.ack(segment_id, now))

    def _crash(self, exc: BaseException) -> None:
        if self._finalized:
            return
        log.error("call.failed", call_id=self.id, error=type(exc).__name__)
        self._publish(
            call_events.error(
                self.id,
                "internal_error",
                f"the call failed ({type(exc).__name__}) and is closed",
                recoverable=False,
            )
        )
        try:
            out = self._core.fail(self._loop.time(), "internal_error")
        except Exception:  # the core itself is broken: close from here
            out = CallOutput(events=[call_events.event("session.closed", self.id, reason="error")])
        self._dispatch(out)
        if not self._finalized:
            self._publish(call_events.event("session.closed", self.id, reason="error"))

    def _arm(self) -> None:
        deadline = self._core.next_deadline()
        if deadline == self._deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._deadline = None
        self._step(self._core.tick)

    def _finalize(self) -> None:
        if self._finalized:
            return
        self._finalized = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._manager.ticker.forget(self)
        self._core.release()
        self._manager.discard(self)
        task = asyncio.ensure_future(self._transcriber.aclose())
        self._manager.background(task)
        if self._on_close is not None:
            try:
                self._on_close()
            except Exception as exc:  # the transport's cleanup failing must not leak
                log.error("call.on_close_failed", call_id=self.id, error=type(exc).__name__)
        self._closed.set()
        log.info("call.closed", call_id=self.id, transport=self.transport.value)


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
        self.postprocess: Postprocess = (
            postprocess if postprocess is not None else default_postprocess(settings, metrics)
        )
        self.queue_events = queue_events
        self.max_calls = max_calls  # 0 = no limit
        self.draining = False
        self._vad_model = vad_model
        self._tick_s = tick_s
        self._ticker: VadTicker | None = None
        self._calls: dict[str, Call] = {}
        self._background: set[asyncio.Future[Any]] = set()
        self.events_dropped = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the VAD network (once, shared by every call) and start the ticker."""
        if self._ticker is not None:
            return
        model = self._vad_model
        if model is None:
            model = await asyncio.get_running_loop().run_in_executor(None, SileroModel)
            self._vad_model = model
        self._ticker = VadTicker(VadBatcher(model), self._tick_s)
        self._ticker.start()

    async def stop(self, drain_s: float | None = None) -> None:
        """Refuse new calls, close every call (flushing finals), stop the ticker and engines."""
        self.draining = True
        calls = list(self._calls.values())
        if calls:
            wait = drain_s if drain_s is not None else self.settings.server.drain_timeout_s
            closing = asyncio.gather(*(c.close("shutdown") for c in calls))
            try:
                await asyncio.wait_for(closing, wait)
            except TimeoutError:
                for call in calls:
                    call._crash(TimeoutError("drain timeout"))
        if self._ticker is not None:
            await self._ticker.aclose()
            self._ticker = None
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.recognizers.aclose()
        close = getattr(self.postprocess, "close", None)
        if close is not None:
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
        `on_close` runs once when the call is closed (the transport frees its port/socket)."""
        parsed = parse_call_options(options, self.settings)
        if self.draining:
            raise CallRefused(503, "draining", "the server is shutting down; no new calls")
        if self._ticker is None:
            raise CallRefused(503, "not_ready", "the call service has not started yet")
        if self.max_calls and len(self._calls) >= self.max_calls:
            raise CallRefused(
                503, "too_many_calls", f"the server is at its limit of {self.max_calls} calls"
            )
        call_id = uuid.uuid4().hex if call_id is None else call_id
        if not call_id or call_id in self._calls:
            raise CallRefused(409, "call_exists", f"a call with id {call_id!r} already exists")
        call = Call(self, call_id, Transport(transport), parsed, info, on_close)
        self._calls[call_id] = call
        self.metrics.calls_started.labels(transport=call.transport.value).inc()
        self.metrics.calls_active.inc()
        call._transcriber.start()
        call._publish(
            call_events.session_created(
                call_id,
                call.transport.value,
                call.state,
                {"model": parsed.model, "language": parsed.language, "codec": info.codec},
            ),
            sticky=True,
        )
        call._arm()
        log.info("call.created", call_id=call_id, transport=call.transport.value)
        return call

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

    def count_drop(self) -> None:
        self.events_dropped += 1
        self.metrics.call_events_dropped.inc()

    def background(self, task: asyncio.Future[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)
