"""RTP calls over UDP (Asterisk ExternalMedia and any PBX): one port per call, from a pool.

``RtpTransport.open_call(request)`` binds a port, creates the call through the ``CallManager``
and returns where the PBX must send. Each port is served by a thin ``RtpEndpoint``: datagrams go
to the sans-IO ``RtpReceiver``; a playout timer armed with ``loop.call_at`` on 20 ms deadlines
hands due PCM to ``Call.feed`` and watches for the media timeout. The port goes back to the
pool when the call closes, however it closes; a failure while creating the call closes the
socket and frees the port before the error propagates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import typing
from collections.abc import Callable, Mapping
from ipaddress import IPv4Network, IPv6Network
from typing import Any

import structlog

from mediaserver.codecs.jitter import JitterBuffer
from mediaserver.codecs.rtp import RtpPacket
from mediaserver.config import RtpSettings
from mediaserver.observability import Metrics
from mediaserver.transports.calls import Call, CallManager, Transport, TransportInfo
from mediaserver.transports.latch import Address, Network, SourceLatch, parse_networks
from mediaserver.transports.pacer import RtpPacketizer, RtpSender
from mediaserver.transports.ports import PortPool, PortsExhausted
from mediaserver.transports.rtp_format import FORMAT_KEYS, RtpFormat
from mediaserver.transports.rtp_receiver import RtpReceiver

log = structlog.get_logger("mediaserver.rtp")

TICK_S = 0.02
# Request keys read by the transport (besides the format); not passed on to the call core.
TRANSPORT_KEYS = (*FORMAT_KEYS, "media_timeout_s", "allowed_sources")
# Prometheus outcome label -> endpoint stats key, counted when a call's port is released.
_OUTCOMES = (
    ("received", "packets_received"),
    ("lost", "packets_lost"),
    ("rejected", "packets_rejected"),
    ("malformed", "packets_malformed"),
    ("late", "late"),
    ("duplicate", "duplicate"),
    ("reordered", "reordered"),
)


class NotLatched(Exception):
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
        self._attached_at = 0.0
        self._sender: RtpSender | None = None
        self._closing: asyncio.Task[None] | None = None
        self._closed = False
        self._released = asyncio.Event()

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
        self._attached_at = self._next_tick = self._loop.time()
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
        last = self.receiver.last_packet_at or self._attached_at
        if now - last >= self.media_timeout_s:
            self._media_timeout(call)
            return
        # Next deadline on the 20 ms grid; ticks missed while the loop was busy are skipped,
        # the jitter buffer hands out everything due at the next one.
        self._next_tick += TICK_S
        if self._next_tick <= now:
            self._next_tick += ((now - self._next_tick) // TICK_S + 1) * TICK_S
        self._timer = self._loop.call_at(self._next_tick, self._tick)

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


@dataclasses.dataclass(frozen=True, slots=True)
class RtpCall:
    """What ``open_call`` returns: the call and where the peer must send RTP."""

    call: Call
    host: str
    port: int
    endpoint: RtpEndpoint


class RtpTransport:
    """Allocates ports and binds one ``RtpEndpoint`` per call."""

    def __init__(
        self, settings: RtpSettings, calls: CallManager, metrics: Metrics | None = None
    ) -> None:
        self.settings = settings
        self.calls = calls
        self.metrics = metrics
        self.pool = PortPool(settings.port_min, settings.port_max)
        self._networks = parse_networks(settings.allowed_sources)
        self._endpoints: dict[int, RtpEndpoint] = {}
        self._by_call: dict[str, RtpEndpoint] = {}

    @property
    def public_host(self) -> str:
        return self.settings.public_host or self.settings.bind_host

    def endpoints(self) -> list[RtpEndpoint]:
        return list(self._endpoints.values())

    def endpoint_for(self, call_id: str) -> RtpEndpoint:
        """The endpoint of a live RTP call (e.g. for its ``sender()``); ``KeyError`` if none."""
        return self._by_call[call_id]

    async def open_call(self, request: Mapping[str, Any]) -> RtpCall:
        """Bind a port and create the call. ``ValueError`` for bad options, ``PortsExhausted``
        when no port is free, ``CallRefused`` from the call manager; nothing leaks on error."""
        fmt = RtpFormat.from_options(request)
        media_timeout = _media_timeout(request, self.settings.media_timeout_s)
        networks = _call_networks(request, self._networks)
        options = {k: v for k, v in request.items() if k not in TRANSPORT_KEYS}
        latch: SourceLatch[RtpPacket] = SourceLatch(self.settings.latch_packets, networks)
        jitter = JitterBuffer(
            fmt.sample_rate,
            fmt.frame_samples,
            target_delay_ms=self.settings.jitter_delay_ms,
            max_delay_ms=max(200, self.settings.jitter_delay_ms),
        )
        endpoint = await self._bind(RtpReceiver(fmt, latch, jitter), media_timeout)
        try:
            info = TransportInfo(codec=fmt.codec, stats=endpoint.stats)
            call = self.calls.create(Transport.RTP, options, info, on_close=endpoint.close)
        except Exception:
            endpoint.close()
            await endpoint.wait_released()  # the port is free again when the error is seen
            raise
        except BaseException:
            endpoint.close()
            raise
        endpoint.attach(call)
        self._by_call[call.id] = endpoint
        return RtpCall(call, self.public_host, endpoint.port, endpoint)

    async def _bind(self, receiver: RtpReceiver, media_timeout: float) -> RtpEndpoint:
        # A port held by another process is skipped; each port is tried at most once.
        for _ in range(self.pool.available):
            port = self.pool.allocate()
            endpoint = RtpEndpoint(
                receiver,
                port,
                media_timeout,
                self._release,
                playout_delay_s=self.settings.jitter_delay_ms / 1000,
            )
            try:
                bound = await self._listen(endpoint)
            except BaseException:
                self.pool.release(port)
                raise
            if not bound:
                self.pool.release(port)
                continue
            self._endpoints[port] = endpoint
            if self.metrics is not None:
                self.metrics.rtp_ports_in_use.set(self.pool.in_use)
            return endpoint
        raise PortsExhausted(
            f"no free RTP port in {self.settings.port_min}-{self.settings.port_max}"
        )

    async def _listen(self, endpoint: RtpEndpoint) -> bool:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_datagram_endpoint(
                lambda: endpoint, local_addr=(self.settings.bind_host, endpoint.port)
            )
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False  # another process holds this port: try the next one
            raise
        return True

    def _release(self, endpoint: RtpEndpoint) -> None:
        if self._endpoints.get(endpoint.port) is endpoint:
            del self._endpoints[endpoint.port]
            self.pool.release(endpoint.port)
            if self.metrics is not None:
                self._count(endpoint.stats(), self.metrics)
        call_id = endpoint.call_id
        if call_id is not None and self._by_call.get(call_id) is endpoint:
            del self._by_call[call_id]

    def _count(self, stats: Mapping[str, int | float], metrics: Metrics) -> None:
        metrics.rtp_ports_in_use.set(self.pool.in_use)
        for outcome, key in _OUTCOMES:
            # packets_lost can go down when a late packet fills its gap; never below zero.
            value = max(0, stats[key])
            if value:
                metrics.rtp_packets.labels(outcome).inc(value)

    async def close(self) -> None:
        """Close every endpoint and wait until their ports are free (server shutdown; the
        calls themselves belong to the call core)."""
        endpoints = list(self._endpoints.values())
        for endpoint in endpoints:
            endpoint.close()
        for endpoint in endpoints:
            await endpoint.wait_released()


def _media_timeout(request: Mapping[str, Any], default: float) -> float:
    value = request.get("media_timeout_s", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ValueError(f"media_timeout_s must be a number in (0, 3600], got {value!r}")
    return float(value)


def _call_networks(request: Mapping[str, Any], server: tuple[Network, ...]) -> tuple[Network, ...]:
    """The call's own allowlist, which may only narrow the server's (``rtp.allowed_sources``)."""
    value = request.get("allowed_sources")
    if value is None:
        return server
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("allowed_sources must be a list of CIDR strings")
    networks = parse_networks(value)
    if server:
        for network in networks:
            if not any(_within(network, allowed) for allowed in server):
                raise ValueError(
                    f"allowed_sources {network} is outside the server's rtp.allowed_sources"
                )
    return networks


def _within(network: Network, allowed: Network) -> bool:
    if isinstance(network, IPv4Network) and isinstance(allowed, IPv4Network):
        return network.subnet_of(allowed)
    if isinstance(network, IPv6Network) and isinstance(allowed, IPv6Network):
        return network.subnet_of(allowed)
    return False
