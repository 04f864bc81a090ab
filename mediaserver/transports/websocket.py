"""The realtime WebSocket session (``WS /v1/realtime``): one socket, one call.

The call is created as the socket is accepted (from the query's ``model``/``language``), so
the first event the client gets is the call's ``session.created`` and a client that never sends
audio is closed by the call's init timeout. A ``session.configure`` before any audio replaces
that call with one built from the merged options (same id; its ``session.created`` confirms
them); after audio, configuring is refused with a recoverable ``error``.

Events are the call's (everything from ``Call.subscribe()``, ``session.created`` enriched with
the input ``sample_rate``) plus the transport's own: ``error`` for a bad client message
(recoverable, the socket stays open), ``session.rate_limit`` and ``session.frames_dropped``
from `Backpressure`. ``session.close`` flushes finals, forwards ``session.closed`` and closes
the socket; ``session.cancel`` drops what is pending and closes at once.

Heartbeat: uvicorn pings every ``ping_interval_s`` and closes a socket whose pong does not
come within ``pong_timeout_s`` (``commands/serve.py`` passes those settings); the session
sees the disconnect and closes its call. Message size: uvicorn refuses frames beyond a hard
limit (4x ``max_message_bytes``); between that and ``max_message_bytes`` the frame is dropped
with a recoverable ``error`` so the client learns why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from starlette.websockets import WebSocket, WebSocketState

from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.call import Call
from mediaserver.calls.event_hub import Subscription
from mediaserver.calls.manager import CallManager
from mediaserver.calls.speaker import SpeakError
from mediaserver.calls.types import CallRefused, Transport, TransportInfo
from mediaserver.config import WebSocketSettings
from mediaserver.observability import Metrics
from mediaserver.transports import realtime_protocol as proto
from mediaserver.transports.backpressure import Backpressure, DropReport, Verdict
from mediaserver.transports.pacing import FramePacer

log = structlog.get_logger("mediaserver.transports.websocket")

CODEC = "pcm16"
# Close codes (RFC 6455 / IANA): normal, policy violation (bad options), try again later.
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013

# Checks call options without creating a call (`CallManager.check_options`); raises ValueError
# or `CallRefused` (a model that is not installed). Whatever it returns is ignored.
OptionsValidator = Callable[[Mapping[str, Any]], object]


def _accept_all(options: Mapping[str, Any]) -> object:
    return None


class _SessionOver(Exception):
    """Raised inside the read loop to end the session (cancel, a refused replacement call)."""


class RealtimeSession:
    """Drives one accepted WebSocket: client messages in, the call's events out."""

    def __init__(
        self,
        websocket: WebSocket,
        calls: CallManager,
        settings: WebSocketSettings,
        metrics: Metrics,
        *,
        sample_rate: int = proto.DEFAULT_SAMPLE_RATE,
        options: Mapping[str, Any] | None = None,
        validate: OptionsValidator = _accept_all,
    ) -> None:
        self._ws = websocket
        self._calls = calls
        self._settings = settings
        self._metrics = metrics
        self._validate = validate
        self._options: dict[str, Any] = dict(options or {})
        self.sample_rate = sample_rate
        self.call: Call | None = None
        self._subscription: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Set when the session is over: the call closed, the client left or cancelled, a bug.
        self._over = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._audio_out: asyncio.Queue[bytes] = asyncio.Queue()  # TTS frames, paced upstream
        self._writer: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._backpressure = Backpressure(
            rate_limit_factor=settings.rate_limit_factor, max_backlog_s=settings.max_backlog_s
        )
        client = websocket.client
        self._remote = f"{client.host}:{client.port}" if client else None
        self.audio_started = False
        self.close_reason = "disconnected"  # what the call is closed with if nothing else says
        self.frames_received = 0
        self.bytes_received = 0
        self.bad_messages = 0

    def stats(self) -> dict[str, int | float]:
        bp = self._backpressure
        return {
            "packets_received": self.frames_received,
            "frames_received": self.frames_received,
            "bytes_received": self.bytes_received,
            "frames_dropped": bp.dropped_frames,
            "rate_limited": bp.rate_limited_episodes,
            "bad_messages": self.bad_messages,
            "sample_rate": self.sample_rate,
        }

    @property
    def call_id(self) -> str:
        return self.call.id if self.call is not None else ""

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the session until it ends; the call is always closed on the way out."""
        self._metrics.realtime_sessions.inc()
        try:
            call = self._create_call(self._options, call_id=None)
        except CallRefused as exc:
            # Draining or full: try again later; anything else (no such model): the request.
            close_code = CLOSE_TRY_AGAIN if exc.status == 503 else CLOSE_POLICY
            await self._fail(exc.code, exc.message, close_code, exc.param)
            return
        except ValueError as exc:
            await self._fail("invalid_options", str(exc), CLOSE_POLICY, getattr(exc, "param", None))
            return
        reader = asyncio.create_task(self._read_loop())
        self._tasks.add(reader)
        self._follow(call)
        try:
            await self._over.wait()
        finally:
            for task in self._tasks:
                task.cancel()
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
            failures = [r for r in results if isinstance(r, Exception)]
            if failures:
                # Our bug, not the client's: contained to this session.
                log.error("realtime.session_failed", call_id=self.call_id, error=repr(failures[0]))
                await self._fail("internal_error", "the session failed", CLOSE_INTERNAL)
            await self._finish()

    def _create_call(self, options: Mapping[str, Any], call_id: str | None) -> Call:
        info = TransportInfo(
            codec=CODEC, remote=self._remote, stats=self.stats, audio_out=self.audio_sink
        )
        call = self._calls.create(Transport.WEBSOCKET, options, info, call_id=call_id)
        self.call = call
        return call

    def _follow(self, call: Call) -> None:
        """Forward `call`'s events from now on (its subscription starts with session.created)."""
        self._subscription = call.subscribe()
        self._tasks.add(asyncio.create_task(self._pump(self._subscription)))

    async def _pump(self, subscription: Subscription) -> None:
        """Forward events; a replaced call's subscription just ends, the last call's closes."""
        try:
            async for event in subscription:
                if event.get("type") == "session.created":
                    event = {**event, "sample_rate": self.sample_rate}
                await self._send(event)
                if event.get("type") == "session.closed":
                    self._over.set()
                    return
        except BaseException:
            self._over.set()
            raise

    async def _read_loop(self) -> None:
        try:
            await self._read()
        except _SessionOver:
            pass
        finally:
            self._over.set()

    async def _finish(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        if self.call is not None:
            await self.call.close(self.close_reason)
        if self._ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):  # the peer may be gone already
                await self._ws.close(CLOSE_NORMAL)

    async def _fail(
        self, code: str, message: str, close_code: int, param: str | None = None
    ) -> None:
        await self._error(code, message, recoverable=False, param=param)
        if self._ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self._ws.close(close_code)

    # -- input -------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                if self.call is not None:
                    await self.call.close("disconnected")
                return
            data = message.get("bytes")
            if data is not None:
                await self._on_audio(data)
            else:
                await self._on_text(message.get("text") or "")

    async def _on_audio(self, data: bytes) -> None:
        if len(data) > self._settings.max_message_bytes:
            await self._bad("message_too_large", self._too_large(len(data)))
            return
        if len(data) % 2:
            await self._bad("invalid_audio", "audio frames must be whole PCM16 samples")
            return
        self.frames_received += 1
        self.bytes_received += len(data)
        admission = self._backpressure.admit(len(data) / (2 * self.sample_rate), self._loop.time())
        if admission.verdict is Verdict.RATE_LIMITED:
            self._metrics.realtime_rate_limited.inc()
            await self._event(
                "session.rate_limit",
                limit=self._settings.rate_limit_factor,
                backlog_ms=round(self._backpressure.backlog_s * 1000),
            )
        if admission.report is not None:
            await self._report_drops(admission.report)
        if admission.verdict is Verdict.DROP:
            self._metrics.realtime_frames_dropped.inc()
        else:
            assert self.call is not None
            self.audio_started = True
            self.call.feed(data, self.sample_rate)
        if admission.pause_s > 0:
            # Input beyond the rate is refused at the edge: uvicorn pauses the socket while we
            # do not receive, so TCP slows a flooding client down (see `Backpressure`).
            await asyncio.sleep(admission.pause_s)

    def _too_large(self, size: int) -> str:
        return f"message of {size} bytes exceeds the {self._settings.max_message_bytes} limit"

    async def _on_text(self, text: str) -> None:
        if len(text) > self._settings.max_message_bytes:
            await self._bad("message_too_large", self._too_large(len(text)))
            return
        try:
            message = proto.parse_client_message(text)
            await self._handle(message)
        except proto.ProtocolError as exc:
            await self._bad(exc.code, exc.message, exc.param)

    async def _handle(self, message: proto.ClientMessage) -> None:
        assert self.call is not None
        if message.type == proto.CONFIGURE:
            await self._configure(proto.parse_configure(message.body))
        elif message.type == proto.COMMIT:
            self.call.commit()
        elif message.type == proto.CLOSE:
            self.close_reason = "requested"
            await self._flush_drops()
            await self.call.close("requested")  # the pump forwards finals, then session.closed
        elif message.type == proto.CANCEL:
            await self._cancel()
        elif message.type == proto.TTS_SPEAK:
            await self._speak(proto.parse_speak(message.body))
        elif message.type == proto.TTS_CANCEL:
            with contextlib.suppress(NoAudioPath):
                self.call.speaker.cancel()
        else:
            raise proto.ProtocolError(
                "not_supported", f"{message.type} is not supported on this server yet", "type"
            )

    async def _speak(self, speak: proto.Speak) -> None:
        assert self.call is not None
        try:
            self.call.speaker.speak(speak.text, speak.voice, speak.speed)
        except SpeakError as exc:
            raise proto.ProtocolError("invalid_speak", str(exc), "text") from None
        except NoAudioPath as exc:
            raise proto.ProtocolError("tts_unavailable", str(exc)) from None

    def audio_sink(self) -> FramePacer:
        """The call's TTS way out: binary frames at the session's input rate, paced."""
        if self._over.is_set():
            raise NoAudioPath("the session is over")
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_audio())
            self._tasks.add(self._writer)
        return FramePacer(self.sample_rate, self._audio_out.put_nowait)

    async def _write_audio(self) -> None:
        while True:
            frame = await self._audio_out.get()
            if self._ws.application_state is not WebSocketState.CONNECTED:
                continue
            async with self._send_lock:
                try:
                    await self._ws.send_bytes(frame)
                except Exception:  # the peer went away; the read loop sees the disconnect
                    log.debug("realtime.send_failed", call_id=self.call_id)

    async def _configure(self, configure: proto.Configure) -> None:
        if self.audio_started:
            raise proto.ProtocolError(
                "session_already_started",
                "session.configure must come before the first audio frame",
            )
        options = {**self._options, **configure.options}
        if configure.options:
            try:
                self._validate(options)
            except ValueError as exc:
                raise proto.ProtocolError(
                    "invalid_options", str(exc), getattr(exc, "param", None)
                ) from None
            except CallRefused as exc:  # e.g. model_not_found: the current call stays
                raise proto.ProtocolError(exc.code, exc.message, exc.param) from None
        if configure.sample_rate is not None:
            self.sample_rate = configure.sample_rate
        self._options = options
        await self._replace_call()

    async def _replace_call(self) -> None:
        """Swap the audio-less call for one with the new options, under the same id."""
        old = self.call
        assert old is not None
        assert self._subscription is not None
        self._subscription.close()  # its pump ends without forwarding the old call's close
        await old.close("reconfigured")
        try:
            call = self._create_call(self._options, call_id=old.id)
        except CallRefused as exc:
            await self._error(exc.code, exc.message, recoverable=False)
            raise _SessionOver from None
        except ValueError as exc:  # options the validator let through: end cleanly anyway
            await self._error("invalid_options", str(exc), recoverable=False)
            raise _SessionOver from None
        self._follow(call)

    async def _cancel(self) -> None:
        assert self.call is not None
        assert self._subscription is not None
        self._subscription.close()
        self.close_reason = "cancelled"
        await self._event("session.closed", reason="cancelled")
        raise _SessionOver

    # -- output ------------------------------------------------------------------------------

    async def _bad(self, code: str, message: str, param: str | None = None) -> None:
        self.bad_messages += 1
        self._metrics.realtime_bad_messages.inc()
        await self._error(code, message, recoverable=True, param=param)

    async def _error(
        self, code: str, message: str, *, recoverable: bool, param: str | None = None
    ) -> None:
        fields: dict[str, Any] = {"code": code, "message": message, "recoverable": recoverable}
        if param:
            fields["param"] = param
        await self._event("error", **fields)

    async def _report_drops(self, report: DropReport) -> None:
        await self._event(
            "session.frames_dropped",
            count=report.frames,
            dropped_ms=round(report.audio_s * 1000),
            reason="backlog",
        )

    async def _flush_drops(self) -> None:
        report = self._backpressure.flush(self._loop.time())
        if report is not None:
            await self._report_drops(report)

    async def _event(self, kind: str, **fields: Any) -> None:
        await self._send({"type": kind, "call_id": self.call_id, **fields})

    async def _send(self, event: Mapping[str, Any]) -> None:
        if self._ws.application_state is not WebSocketState.CONNECTED:
            return
        async with self._send_lock:
            try:
                await self._ws.send_json(event)
            except Exception:  # the peer went away mid-send; the read loop sees the disconnect
                log.debug("realtime.send_failed", call_id=self.call_id)
