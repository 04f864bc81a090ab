"""AudioSocket TCP listener: Asterisk's ``AudioSocket(uuid,host:port)`` (and ExternalMedia).

One TCP connection is one call. The first message must be the call's UUID, which becomes the
call id; audio frames (slin at 8 kHz or one of the higher-rate kinds) go to ``Call.feed`` at
their rate, DTMF frames to ``Call.dtmf``; a hangup or error frame from Asterisk, or the socket
closing, ends the call (finals are flushed). When the call ends on our side (timeouts, DELETE,
shutdown) we send a hangup frame and close the socket.

Audio beyond real time is held to the same limits as the realtime WebSocket's (`Backpressure`,
the `websocket` settings): Asterisk sends in real time, so a peer above ``rate_limit_factor``
is told once per episode with a `session.rate_limit` event on the call, and the connection
stops reading until its excess has drained, so TCP holds the peer to that rate; audio beyond
the ``max_backlog_s`` allowance would be dropped (`session.frames_dropped`, counted).

A broken byte stream (``AudioSocketProtocolError``) closes that connection only, after the
well-formed messages before the bad frame were delivered. The call is created on the first
audio or DTMF message, so its transport info names the codec actually used (``slin``,
``slin16``, ...); a connection that never gets that far creates nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

import structlog

from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.manager import Call, CallManager, CallRefused, Transport, TransportInfo
from mediaserver.codecs.audiosocket import (
    Audio,
    AudioSocketParser,
    AudioSocketProtocolError,
    CallId,
    Dtmf,
    Hangup,
    Message,
    PeerError,
    encode_audio,
    encode_error,
    encode_hangup,
)
from mediaserver.config import AudioSocketSettings, WebSocketSettings
from mediaserver.observability import Metrics
from mediaserver.transports.backpressure import Backpressure, DropReport, Verdict
from mediaserver.transports.pacing import FramePacer

log = structlog.get_logger("mediaserver.transports.audiosocket")

# Asterisk sends one 20 ms frame at a time; a peer that sends faster gets read this much per
# step (~0.1 s of slin16), so the audio one read lets in stays small work for the event loop.
READ_SIZE = 4096
# How long a new connection may take to send its UUID and its first audio or DTMF.
FIRST_MESSAGE_TIMEOUT_S = 10.0
DTMF_DIGITS = frozenset("0123456789*#ABCD")
# The outgoing direction is cut into 20 ms frames, as Asterisk sends them.
OUT_FRAME_MS = 20


def codec_name(sample_rate: int) -> str:
    """Asterisk's name for signed linear audio at ``sample_rate`` (``slin``, ``slin16``...)."""
    if sample_rate == 8000:
        return "slin"
    if sample_rate == 44100:
        return "slin44"
    return f"slin{sample_rate // 1000}"


class _Ended(Exception):
    """The connection is over (hangup, peer error, refusal); not a fault of ours."""


class AudioSocketConnection:
    """One Asterisk connection: the parser, its call and its counters."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        calls: CallManager,
        metrics: Metrics,
        options: Mapping[str, Any],
        limits: WebSocketSettings | None = None,
    ) -> None:
        limits = limits or WebSocketSettings()
        self._limit = limits.rate_limit_factor
        self._backpressure = Backpressure(
            rate_limit_factor=limits.rate_limit_factor, max_backlog_s=limits.max_backlog_s
        )
        self._pause_s = 0.0  # reading stops this long after the current batch
        self._loop = asyncio.get_running_loop()
        self._reader = reader
        self._writer = writer
        self._calls = calls
        self._metrics = metrics
        self._options = options
        self._parser = AudioSocketParser()
        self.call_id: str | None = None
        self.call: Call | None = None
        peer = writer.get_extra_info("peername")
        self.remote = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else None
        self.frames_received = 0
        self.bytes_received = 0
        self.dtmf_received = 0
        self.dtmf_rejected = 0
        self.frames_sent = 0
        self.protocol_errors = 0
        self.sample_rate = 0

    def stats(self) -> dict[str, int | float]:
        return {
            "packets_received": self.frames_received,
            "frames_received": self.frames_received,
            "bytes_received": self.bytes_received,
            "dtmf_received": self.dtmf_received,
            "dtmf_rejected": self.dtmf_rejected,
            "frames_sent": self.frames_sent,
            "protocol_errors": self.protocol_errors,
            "frames_dropped": self._backpressure.dropped_frames,
            "rate_limited": self._backpressure.rate_limited_episodes,
            "sample_rate": self.sample_rate,
        }

    async def run(self) -> None:
        """Serve the connection until either side ends it; never raises for the peer's faults."""
        try:
            await self._serve()
        except _Ended:
            pass
        except AudioSocketProtocolError as exc:
            self.protocol_errors += 1
            self._metrics.audiosocket_protocol_errors.inc()
            log.info("audiosocket.protocol_error", reason=str(exc), call_id=self.call_id)
            self._send(encode_error())
        except (ConnectionError, TimeoutError):
            pass
        finally:
            if self.call is not None:
                report = self._backpressure.flush(self._loop.time())
                if report is not None:
                    self._report_drops(self.call, report)
                await self.call.close()
            await self._close_socket()

    async def _serve(self) -> None:
        async with asyncio.timeout(FIRST_MESSAGE_TIMEOUT_S):
            await self._start_call()
        while True:
            self._dispatch(await self._messages())
            if self._pause_s > 0:
                pause, self._pause_s = self._pause_s, 0.0
                await asyncio.sleep(pause)

    async def _start_call(self) -> None:
        """Read the UUID, then messages up to the first audio or DTMF, which creates the call."""
        first = await self._messages()
        if not isinstance(first[0], CallId):
            raise AudioSocketProtocolError("AudioSocket stream must start with the call's UUID", [])
        self._take_id(first[0].uuid)
        pending = first[1:]
        while self.call is None:
            for index, message in enumerate(pending):
                if isinstance(message, Audio | Dtmf):
                    self._create_call(message)
                    self._dispatch(pending[index:])
                    break
                self._dispatch([message])
            else:
                pending = await self._messages()

    async def _messages(self) -> list[Message]:
        """The next non-empty batch of messages; raises `_Ended` at end of stream."""
        while True:
            data = await self._reader.read(READ_SIZE)
            if not data:
                raise _Ended
            try:
                messages = self._parser.feed(data)
            except AudioSocketProtocolError as exc:
                self._dispatch(exc.messages)
                raise
            if messages:
                return messages

    def _take_id(self, call_uuid: uuid.UUID) -> None:
        call_id = str(call_uuid)
        try:
            self._calls.get(call_id)
        except KeyError:
            self.call_id = call_id
            return
        self._refuse("duplicate_call_id")

    def _create_call(self, first: Audio | Dtmf) -> None:
        assert self.call_id is not None
        if isinstance(first, Audio):
            self.sample_rate = first.sample_rate
        info = TransportInfo(
            codec=codec_name(self.sample_rate or 8000),
            remote=self.remote,
            stats=self.stats,
            audio_out=self.audio_sink,
        )
        try:
            self.call = self._calls.create(
                Transport.AUDIOSOCKET,
                self._options,
                info,
                call_id=self.call_id,
                on_close=self._on_call_closed,
            )
        except CallRefused as exc:
            if exc.code == "model_not_found":  # the server's default model: the operator's fix
                detail = str(exc)  # names the model and `mediaserver pull`; nothing personal
                log.warning("audiosocket.model_not_installed", call_id=self.call_id, detail=detail)
            self._refuse(exc.code)
        except ValueError:
            # Bad defaults or a call id taken in the meantime: still the peer's call to refuse.
            self._refuse("call_rejected")

    def _refuse(self, code: str) -> None:
        self._metrics.audiosocket_refused.inc()
        log.info("audiosocket.refused", code=code, call_id=self.call_id)
        self._send(encode_error())
        raise _Ended

    def _dispatch(self, messages: list[Message]) -> None:
        call = self.call
        for message in messages:
            if isinstance(message, Audio):
                self.frames_received += 1
                self.bytes_received += len(message.pcm)
                if call is not None and self._admit(call, message):
                    call.feed(message.pcm, message.sample_rate)
            elif isinstance(message, Dtmf):
                if message.digit not in DTMF_DIGITS:
                    self.dtmf_rejected += 1  # a bad byte from the peer: counted, not fatal
                    continue
                self.dtmf_received += 1
                if call is not None:
                    call.dtmf(message.digit)
            elif isinstance(message, Hangup | PeerError):
                raise _Ended
            elif isinstance(message, CallId):
                raise AudioSocketProtocolError("AudioSocket UUID sent twice", [])

    def _admit(self, call: Call, audio: Audio) -> bool:
        """Whether ``audio`` may reach the call (see the module docstring); not per-frame
        logging, only counters and the rare event."""
        duration = len(audio.pcm) / (2 * audio.sample_rate)
        admission = self._backpressure.admit(duration, self._loop.time())
        if admission.verdict is Verdict.RATE_LIMITED:
            self._metrics.audiosocket_rate_limited.inc()
            backlog_ms = round(self._backpressure.backlog_s * 1000)
            call.emit("session.rate_limit", limit=self._limit, backlog_ms=backlog_ms)
        if admission.report is not None:
            self._report_drops(call, admission.report)
        if admission.verdict is Verdict.DROP:
            self._metrics.audiosocket_frames_dropped.inc()
            self._pause_s += admission.pause_s
            return False
        # The pause of an accepted frame covers the whole excess so far: the latest one wins.
        self._pause_s = max(self._pause_s, admission.pause_s)
        return True

    @staticmethod
    def _report_drops(call: Call, report: DropReport) -> None:
        call.emit(
            "session.frames_dropped",
            count=report.frames,
            dropped_ms=round(report.audio_s * 1000),
            reason="backlog",
        )

    def send_audio(self, pcm: bytes, sample_rate: int) -> None:
        """Queue PCM16 mono for the peer, cut into 20 ms frames (pacing is the caller's job)."""
        step = sample_rate * OUT_FRAME_MS // 1000 * 2
        frames = [encode_audio(pcm[i : i + step], sample_rate) for i in range(0, len(pcm), step)]
        self.frames_sent += len(frames)
        self._send(b"".join(frames))

    def audio_sink(self) -> FramePacer:
        """The call's TTS way out: slin frames at the caller's rate, paced on 20 ms deadlines
        (Asterisk plays AudioSocket audio as it arrives)."""
        rate = self.sample_rate or 8000
        if self._writer.is_closing():
            raise NoAudioPath("the AudioSocket connection is closed")
        return FramePacer(rate, lambda frame: self.send_audio(frame, rate))

    def _on_call_closed(self) -> None:
        # The call ended on our side (or after the peer's hangup): tell Asterisk and hang up.
        self._send(encode_hangup())
        self._writer.close()

    def _send(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    async def _close_socket(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(2.0):
                await self._writer.wait_closed()


class AudioSocketServer:
    """The TCP listener; `start` binds, `stop` closes the listener and every live call."""

    def __init__(
        self,
        settings: AudioSocketSettings,
        calls: CallManager,
        metrics: Metrics,
        options: Mapping[str, Any] | None = None,
        limits: WebSocketSettings | None = None,
    ) -> None:
        self.settings = settings
        self._limits = limits
        self._calls = calls
        self._metrics = metrics
        self._options: Mapping[str, Any] = options or {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections: dict[asyncio.Task[None], AudioSocketConnection] = {}

    @property
    def port(self) -> int:
        """The bound port (useful when the settings asked for an ephemeral one)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("AudioSocket server is not listening")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, *, port: int | None = None) -> None:
        """Listen on the configured host and port (``port`` overrides it; 0 = any free port)."""
        self._server = await asyncio.start_server(
            self._accept,
            self.settings.host,
            self.settings.port if port is None else port,
            reuse_address=True,
        )
        log.info("audiosocket.listening", host=self.settings.host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections.values()):
            if connection.call is not None:
                await connection.call.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connection = AudioSocketConnection(
            reader, writer, self._calls, self._metrics, self._options, self._limits
        )
        self._metrics.audiosocket_connections.inc()
        self._tasks.add(task)
        self.connections[task] = connection
        try:
            await connection.run()
        except Exception:
            # Our bug, not the peer's: log it, and let every other connection carry on.
            log.exception("audiosocket.connection_failed", call_id=connection.call_id)
        finally:
            self._tasks.discard(task)
            del self.connections[task]

    def connection(self, call_id: str) -> AudioSocketConnection:
        """The live connection carrying ``call_id`` (to send audio back); KeyError if none."""
        for connection in self.connections.values():
            if connection.call_id == call_id and connection.call is not None:
                return connection
        raise KeyError(call_id)
