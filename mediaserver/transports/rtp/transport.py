"""RTP calls over UDP (Asterisk ExternalMedia and any PBX): one port per call, from a pool.

``RtpTransport.open_call(request)`` binds a port, creates the call through the ``CallManager``
and returns where the PBX must send. Each port is served by a thin ``RtpEndpoint``
(``rtp_endpoint``). The port goes back to the pool when the call closes, however it closes; a
failure while creating the call closes the socket and frees the port before the error
propagates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from mediaserver.calls.manager import Call, CallManager, Transport, TransportInfo
from mediaserver.codecs.jitter import JitterBuffer
from mediaserver.codecs.rtp import RtpPacket
from mediaserver.config import RtpSettings
from mediaserver.observability import Metrics
from mediaserver.transports.rtp.endpoint import NotLatched, RtpEndpoint
from mediaserver.transports.rtp.formats import FORMAT_KEYS, RtpFormat
from mediaserver.transports.rtp.latch import Network, SourceLatch, parse_networks
from mediaserver.transports.rtp.ports import PortPool, PortsExhausted
from mediaserver.transports.rtp.receiver import RtpReceiver

__all__ = ["NotLatched", "RtpCall", "RtpEndpoint", "RtpTransport"]

# Request keys read by the transport (besides the format); not passed on to the call core.
TRANSPORT_KEYS = (*FORMAT_KEYS, "media_timeout_s", "allowed_sources")
# Prometheus outcome label -> endpoint stats key, counted when a call's port is released.
_OUTCOMES = (
    ("received", "packets_received"),
    ("played", "played"),
    ("lost", "packets_lost"),
    ("rejected", "packets_rejected"),
    ("malformed", "packets_malformed"),
    ("late", "late"),
    ("duplicate", "duplicate"),
    ("reordered", "reordered"),
    ("discarded", "discarded"),
)


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
            capacity_ms=self.settings.jitter_capacity_ms,
        )
        endpoint = await self._bind(RtpReceiver(fmt, latch, jitter), media_timeout)
        try:
            info = TransportInfo(
                codec=fmt.codec, stats=endpoint.stats, audio_out=endpoint.audio_sink
            )
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
        if stats["concealed_gap_ms"]:
            metrics.rtp_concealed_seconds.inc(stats["concealed_gap_ms"] / 1000)

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
