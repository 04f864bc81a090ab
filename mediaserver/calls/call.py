"""`Call`: one live call, the async shell around its `CallCore` (see `calls.manager`).

A call knows its owner only through `CallHost` (what it needs: metrics, engines, the VAD
ticker, the event-drop counter), so this module does not import the manager."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import structlog

from mediaserver.audio.pcm import check_rate
from mediaserver.audio.vad import VadBatcher, VadStream
from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.barge_in import BargeIn
from mediaserver.calls.call_watch import CallWatch
from mediaserver.calls.event_hub import EventHub, Subscription
from mediaserver.calls.postprocess import Postprocess
from mediaserver.calls.recognizers import Recognizers
from mediaserver.calls.speaker import Speaker, Synthesizer
from mediaserver.calls.transcriber import CallTranscriber
from mediaserver.calls.types import BASE_STATS, CORE_EVENTS, Transport, TransportInfo
from mediaserver.calls.vad_ticker import VadTicker
from mediaserver.observability import Metrics
from mediaserver.session import call_events
from mediaserver.session.call_core import DTMF_DIGITS, CallCore, CallOutput, pcm_from_bytes
from mediaserver.session.call_events import EventDict
from mediaserver.session.call_options import CallOptions
from mediaserver.session.states import SessionState

log = structlog.get_logger("mediaserver.calls")


class CallHost(Protocol):
    """What a call needs from the manager that owns it (`CallManager` is one)."""

    metrics: Metrics
    recognizers: Recognizers
    postprocess: Postprocess
    queue_events: int
    synthesizer: Synthesizer | None

    @property
    def ticker(self) -> VadTicker: ...

    @property
    def batcher(self) -> VadBatcher: ...

    def count_drop(self) -> None: ...

    def vad_pending(self, call: Call) -> None: ...

    def vad_forget(self, call: Call) -> None: ...

    def discard(self, call: Call) -> None: ...

    def background(self, task: asyncio.Future[Any]) -> None: ...


class Call:
    """One live call. Built by `CallManager.create`; transports only call the public methods."""

    def __init__(
        self,
        manager: CallHost,
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
        self._muted = False
        self._manager = manager
        self._loop = asyncio.get_running_loop()
        self._core = CallCore(call_id, options, self._loop.time())
        self._hub = EventHub(call_id, limit=manager.queue_events, on_drop=manager.count_drop)
        self._watch = CallWatch(call_id, manager.metrics)  # latency histograms, lost finals
        self._on_close = on_close
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._closed = asyncio.Event()
        self._finalized = False
        self._frames = 0
        self._muted_frames = 0
        self._speaker: Speaker | None = None
        self._barge_in: BargeIn | None = None
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

    def start(self) -> None:
        """Begin the call (once, by its manager): the transcriber runs, `session.created`
        goes out first to every subscriber, the call's timers are armed."""
        self._transcriber.start()
        created = call_events.session_created(
            self.id,
            self.transport.value,
            self.state,
            {
                "model": self.options.model,
                "language": self.options.language,
                "codec": self.transport_info.codec,
            },
        )
        self._publish(created, sticky=True)
        self._arm()

    def abort(self, exc: BaseException) -> None:
        """End the call at once after an unrecoverable failure: an `error` event, the core's
        failure path (pending finals reported), `session.closed`. Idempotent."""
        self._crash(exc)

    @property
    def muted(self) -> bool:
        """True while the call speaks TTS: input audio is discarded (mute-on-speak), and the
        caller counts as listening, not silent (no HOLD however long the call talks)."""
        return self._muted

    @muted.setter
    def muted(self, value: bool) -> None:
        if value == self._muted:
            return
        self._muted = value
        self._step(lambda now: self._core.playback(value, now))

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
            if self._barge_in is not None:
                self._barge_in.feed(samples, sample_rate)  # its own VAD; never STT
            # The caller's audio never reaches VAD or STT while the call speaks, but the call's
            # timeline keeps running (silence in its place), so `audio_ms` stays aligned with
            # the call's recording.
            samples = np.zeros_like(samples)
        self._frames += 1
        self._step(lambda now: self._core.feed(samples, sample_rate, now))
        if not self._finalized:
            self._vad_fed()

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
            self._manager.vad_forget(self)
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

    @property
    def speaker(self) -> Speaker:
        """The call's TTS output (made on first use); `NoAudioPath` when this call's
        transport cannot play audio or the server has no synthesizer."""
        if self._speaker is None:
            synthesizer = self._manager.synthesizer
            make_sink = self.transport_info.audio_out
            if synthesizer is None or make_sink is None or self._finalized:
                raise NoAudioPath(f"a {self.transport.value} call cannot play audio here")
            on_mute = None
            if self.options.barge_in:
                self._barge_in = BargeIn(
                    self.options.vad,
                    self.options.barge_in_min_ms,
                    lambda: self._manager.ticker,
                    self._on_barge_in,
                )
                on_mute = self._barge_in.listen
            self._speaker = Speaker(self, synthesizer, make_sink, on_mute=on_mute)
        return self._speaker

    def _on_barge_in(self) -> None:
        if self._speaker is not None:
            self._speaker.cancel("barge_in")

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

    def _vad_fed(self) -> None:
        stream = self._core.vad
        if stream.pending:
            self._manager.vad_pending(self)  # the network must decide: on the next tick
        elif stream.has_events:
            # Decided already (the pre-filter settles clear silence at once, and the end of
            # speech is usually decided on silence): waiting for the tick would only add lag.
            self.vad_done(self._loop.time())

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
            "finals_speculated": self._transcriber.speculations_used,
            "events_dropped": self._hub.dropped,
            "utterances_spoken": self._speaker.spoken if self._speaker else 0,
            "utterances_cancelled": self._speaker.cancelled if self._speaker else 0,
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
        self._watch.seen(item, self._loop.time())
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
        if self._speaker is not None:
            self._speaker.close()
        if self._barge_in is not None:
            self._barge_in.listen(False)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._manager.vad_forget(self)
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
