"""One RTP call's UDP socket: a thin asyncio adapter around the sans-IO ``RtpReceiver``.

``datagram_received`` hands each datagram to the receiver (parse, latch, DTMF or decode,
jitter buffer) and passes completed DTMF digits to the call. A playout timer armed with
``loop.call_at`` on 20 ms deadlines, in phase with the jitter buffer's frames, hands due PCM
to ``Call.feed`` and enforces the media timeout. The port is released (``on_closed``) only
once the socket is really closed, so it can be bound again at once.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Callable

import structlog

from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.manager import Call
from mediaserver.transports.rtp.latch import Address
from mediaserver.transports.rtp.receiver import RtpReceiver
from mediaserver.transports.rtp.sender import RtpPacketizer, RtpSender, RtpSink

log = structlog.get_logger("mediaserver.rtp")

TICK_S = 0.02


class NotLatched(NoAudioPath):
    """Nothing can be sent before the peer's address is known (no packet latched yet)."""


class RtpEndpoint(asyncio.DatagramProtocol):
    """One call's UDP socket: receive, play out on deadlines, enforce the media timeout."""

    def __init__(
        self,
        receiver: RtpReceiver,
        port: int,
        media_timeout_s: float,
        on_closed: Callable[[RtpEndpoint], None],
        *,
        playout_delay_s: float = 0.0,
    ) -> None:
        self.receiver = receiver
        self.port = port
        self.playout_delay_s = playout_delay_s  # the jitter buffer's target delay
        self.media_timeout_s = media_timeout_s
        self.send_errors = 0
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._call: Call | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._next_tick = 0.0
        self._last_tick_at = 0.0
        self._sender: RtpSender | None = None
        self._closing: asyncio.Task[None] | None = None
        self._closed = False
        self._released = asyncio.Event()
        self._received_at_tick = 0  # receiver.received when the last tick ran
        self._silent_s = 0.0

    # -- asyncio.DatagramProtocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self._transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        receiver = self.receiver
        first = receiver.received == 0
        now = self._loop.time()
        digits = receiver.receive(data, addr, now)
        if first and receiver.received:
            self._align(now)
        sender = self._sender
        if sender is not None and receiver.source is not None:
            # Symmetric RTP follows a takeover during probation (see latch.py).
            sender.address = receiver.source[0]
        if digits and self._call is not None:
            for digit in digits:
                self._call.dtmf(digit)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for what we sent (peer port closed); receiving goes on.
        self.send_errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        # The socket is really closed only now: the port goes back to the pool here, so the
        # next call given this port can bind it.
        self._transport = None
        self.close()

    # -- call life ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def call_id(self) -> str | None:
        return None if self._call is None else self._call.id

    def attach(self, call: Call) -> None:
        """Start playing out into ``call``."""
        self._call = call
        self._last_tick_at = self._next_tick = self._loop.time()
        self._tick()

    def stats(self) -> dict[str, int | float]:
        stats = self.receiver.stats()
        stats["packets_sent"] = self._sender.packets_sent if self._sender else 0
        stats["send_errors"] = self.send_errors
        return stats

    def remote(self) -> str | None:
        source = self.receiver.source
        return None if source is None else f"{source[0][0]}:{source[0][1]}"

    def sender(self) -> RtpSender:
        """The outbound stream to the latched source (symmetric RTP); ``NotLatched`` before."""
        if self._sender is None:
            source = self.receiver.source
            if source is None or self._transport is None or self._closed:
                raise NotLatched("no RTP source has latched on this call yet")
            packetizer = RtpPacketizer(self.receiver.format)
            self._sender = RtpSender(self._transport.sendto, source[0], packetizer, self._loop)
        return self._sender

    def audio_sink(self) -> RtpSink:
        """The call's TTS way out (`TransportInfo.audio_out`); ``NotLatched`` before latching."""
        return RtpSink(self.sender())

    def _align(self, now: float) -> None:
        """Put the 20 ms tick grid on the jitter buffer's frame boundaries: its first frame
        is due ``playout_delay_s`` after the packet that latched, each next one 20 ms later.
        Ticking in phase with them saves up to a frame of latency."""
        if self._timer is None or self._closed:
            return
        self._timer.cancel()
        # A hair after the boundary, so the frame due exactly then is included.
        self._next_tick = now + self.playout_delay_s + 1e-4
        self._timer = self._loop.call_at(self._next_tick, self._tick)

    def _tick(self) -> None:
        self._timer = None
        call = self._call
        if self._closed or call is None:
            return
        now = self._loop.time()
        pcm = self.receiver.pop(now)
        if pcm:
            call.feed(pcm, self.receiver.format.sample_rate)
        if self._silent(now) >= self.media_timeout_s:
            self._media_timeout(call)
            return
        # Next deadline on the 20 ms grid; ticks missed while the loop was busy are skipped,
        # the jitter buffer hands out everything due at the next one.
        self._next_tick += TICK_S
        if self._next_tick <= now:
            self._next_tick += ((now - self._next_tick) // TICK_S + 1) * TICK_S
        self._timer = self._loop.call_at(self._next_tick, self._tick)

    def _silent(self, now: float) -> float:
        """Seconds without an accepted packet, counting only time the loop was live: a tick
        adds at most two tick intervals. An event loop stalled by something else (a thread
        holding the GIL) must not end every call whose datagrams wait unread meanwhile."""
        received = self.receiver.received
        if received != self._received_at_tick:
            self._received_at_tick = received
            self._silent_s = 0.0
        else:
            self._silent_s += min(now - self._last_tick_at, 2 * TICK_S)
        self._last_tick_at = now
        return self._silent_s

    def _media_timeout(self, call: Call) -> None:
        for digit in self.receiver.flush_dtmf():
            call.dtmf(digit)
        log.info("rtp.media_timeout", call_id=call.id, port=self.port)
        self._closing = self._loop.create_task(call.close("media_timeout"))
        self._closing.add_done_callback(self._closed_by_timeout)

    def _closed_by_timeout(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("rtp.close_failed", port=self.port, error=type(error).__name__)
        self.close()  # the call core calls on_close too; closing twice is harmless

    def close(self) -> None:
        """Stop the timer and close the socket; the port is freed once the socket is closed
        (``wait_released``). Idempotent."""
        if not self._closed:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._sender is not None:
                self._sender.close()
        if self._transport is not None:
            self._transport.close()  # connection_lost follows on a later loop iteration
        elif not self._released.is_set():
            self._released.set()
            self._on_closed(self)

    async def wait_released(self) -> None:
        await self._released.wait()
