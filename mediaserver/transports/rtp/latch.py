"""Strict RTP source latching; pure, no sockets, no clock (``now`` is an argument).

A call's port is open to anyone who can reach it, so the call locks onto one *stream*: an
(address, SSRC) pair. The rules, in the order a packet meets them:

1. **Who may take part.** The server's allowlist (``rtp.allowed_sources``, CIDR), the call's own
   ``allowed_sources``, and the call's expected ``source`` (``ip`` or ``ip:port``, given on
   ``POST /v1/calls``) filter a packet before it can count for anything.
2. **Qualifying.** A stream qualifies with ``required`` packets in a row with consecutive
   sequence numbers and plausible timestamps (never backwards, at most ``max_step`` ahead):
   what a real sender produces, and what random junk or a replayed capture does not. Until a
   stream qualifies its packets are held, not played.
3. **Latching.** The first stream to qualify latches at once (its held packets are released in
   order, so the PBX's first words are not lost) and the SSRC is pinned with the address.
4. **Probation** (``probation_s`` after the first latch). Another qualified stream takes the call
   over only when the latched stream has gone quiet for ``quiet_s`` (a stranger's burst ended
   while the PBX keeps sending), or when it comes from the host that created the call
   (``preferred_host``, the API client's address) and the latched one does not. So a stranger
   who sprays a few packets at the port before the PBX's first packet loses the call again
   as soon as the PBX streams, and cannot take over a PBX that is already streaming.
5. **Locked.** After probation the (address, SSRC) pair is pinned for the rest of the call:
   anything else is rejected, a new SSRC from the same address and port included (a blind
   spoofer who knows the PBX's address still has to guess 32 bits). The price: a PBX that
   changes its SSRC after probation (Asterisk does when the bridged source changes, e.g. on a
   transfer) is not heard any more, and the call ends on its media timeout.

Rejected packets never reach the jitter buffer, the VAD or the call state; ``rejected`` counts
them. What this cannot do: tell a stranger who streams a perfect, continuous RTP stream from
before the PBX's first packet (having learnt the random port) from the PBX itself, when the PBX
is not the host that created the call. That is what the expected ``source`` is for.

Asterisk's ``strictrtp=yes`` compares as follows (``res_rtp_asterisk``): it learns a source
from ``probation`` (default 4) in-sequence packets, and for the first 5 s of learning a newly
qualified source *replaces* the current one whatever that one is doing; afterwards the address
is locked until the next renegotiation. Its SSRC is not part of the lock, and the latest
qualifier wins the learning window, so a stranger who streams at the port during those 5 s
takes the call even from a PBX that is sending. Here the earliest stream keeps the call unless
it stops (or loses to the call's creator), the SSRC is pinned, timestamps must be plausible,
and an expected source can be given per call. ``strictrtp=seqno`` (learning on sequence
numbers only, for NAT) corresponds to giving no ``source`` here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# A datagram source as asyncio reports it: (host, port) for IPv4, a 4-tuple for IPv6.
Address = tuple[Any, ...]

# Candidates tracked at once before latching; a flood of spoofed sources cannot grow memory.
MAX_CANDIDATES = 16
# Packets a qualified candidate keeps while it waits to take over (about 0.5 s of 20 ms audio).
MAX_HELD = 25
DEFAULT_PROBATION_S = 5.0
DEFAULT_QUIET_S = 0.25
# "[v6]:port" or "[v6]", "v4:port" or "v4", a bare IPv6 address.
_SOURCE_RE = re.compile(
    r"\[(?P<v6>[^\]]+)\](?::(?P<p6>\d{1,5}))?|(?P<v4>[^:\[\]]+)(?::(?P<p4>\d{1,5}))?"
    r"|(?P<bare>[0-9A-Fa-f:.]+)"
)


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """CIDR strings (``"10.0.0.0/8"``, ``"192.0.2.7"``) as networks; ``ValueError`` names
    the bad one."""
    networks: list[Network] = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"invalid source network {cidr!r} (expected CIDR like 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def host_ip(host: str) -> IpAddress | None:
    """``host`` as an address (IPv6 zone id dropped, IPv4-mapped IPv6 as IPv4); None if not one."""
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def source_allowed(host: str, networks: Sequence[Network]) -> bool:
    """Whether ``host`` is inside one of ``networks``; everything is allowed when there are none."""
    if not networks:
        return True
    ip = host_ip(host)
    return ip is not None and any(ip in network for network in networks)


class ExpectedSource:
    """The one address a call's media may come from (``"ip"`` or ``"ip:port"``; IPv6 as
    ``"[::1]:5004"`` or bare ``"::1"``)."""

    __slots__ = ("ip", "port")

    def __init__(self, ip: IpAddress, port: int | None = None) -> None:
        self.ip = ip
        self.port = port

    @classmethod
    def parse(cls, text: object) -> ExpectedSource:
        """``ValueError`` (the client's fault) for anything but ``ip`` or ``ip:port``."""
        shown = repr(text) if isinstance(text, str) else type(text).__name__
        match = _SOURCE_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        host = port_text = None
        if match is not None:
            host = match["v6"] or match["v4"] or match["bare"]
            port_text = match["p6"] or match["p4"]
        ip = None if host is None else host_ip(host)
        port = None if port_text is None else int(port_text)
        if ip is None or (port is not None and not 0 < port < 65536):
            raise ValueError(f"source must be 'ip' or 'ip:port' (port 1-65535), got {shown}")
        return cls(ip, port)

    def matches(self, address: Address) -> bool:
        if self.port is not None and address[1] != self.port:
            return False
        return host_ip(str(address[0])) == self.ip

    def within(self, networks: Sequence[Network]) -> bool:
        return not networks or any(self.ip in network for network in networks)

    def __str__(self) -> str:
        host = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        return host if self.port is None else f"{host}:{self.port}"


class _Candidate(Generic[T]):
    __slots__ = ("held", "sequence", "timestamp")

    def __init__(self, sequence: int, timestamp: int, item: T) -> None:
        self.sequence = sequence
        self.timestamp = timestamp
        self.held = [item]


class SourceLatch(Generic[T]):
    """Decides, packet by packet, whether a packet belongs to the call; see the module docstring.

    ``offer`` returns the items (the caller's parsed packets) to process now: none while the
    stream is a candidate or rejected, the held run when it latches or takes over, the item
    itself after. ``rejected`` counts every item that will never be returned; ``takeovers``
    counts the times a latched stream was replaced.
    """

    __slots__ = (
        "_address",
        "_candidates",
        "_expected",
        "_last_at",
        "_latched_at",
        "_max_step",
        "_networks",
        "_preferred",
        "_rejected",
        "_ssrc",
        "probation_s",
        "quiet_s",
        "required",
        "takeovers",
    )

    def __init__(
        self,
        required: int,
        networks: Sequence[Network] = (),
        *,
        expected: ExpectedSource | None = None,
        preferred_host: str | None = None,
        probation_s: float = DEFAULT_PROBATION_S,
        quiet_s: float = DEFAULT_QUIET_S,
        max_step: int = 48_000,
    ) -> None:
        if required < 1:
            raise ValueError(f"latching needs at least 1 packet, got {required}")
        if probation_s < 0 or quiet_s <= 0 or max_step < 1:
            raise ValueError("probation_s must be >= 0, quiet_s and max_step positive")
        self.required = required
        self.probation_s = probation_s
        self.quiet_s = quiet_s
        self._rejected = 0
        self.takeovers = 0
        self._networks = tuple(networks)
        self._expected = expected
        self._preferred = None if preferred_host is None else host_ip(preferred_host)
        self._max_step = max_step
        self._address: Address | None = None
        self._ssrc = -1
        self._latched_at = 0.0
        self._last_at = 0.0
        self._candidates: dict[tuple[Address, int], _Candidate[T]] = {}

    @property
    def rejected(self) -> int:
        """Packets that will not be played: refused, or held by a contender of the latched
        stream (given back if that contender takes over, which is rare)."""
        if self._address is None:
            return self._rejected  # before latching, held packets are still pending
        return self._rejected + sum(len(c.held) for c in self._candidates.values())

    @property
    def source(self) -> tuple[Address, int] | None:
        """The latched (address, SSRC), or ``None`` before latching."""
        return None if self._address is None else (self._address, self._ssrc)

    def offer(
        self, address: Address, ssrc: int, sequence: int, timestamp: int, item: T, now: float
    ) -> list[T]:
        if ssrc == self._ssrc and address == self._address:
            self._last_at = now
            return [item]
        if not self._may_take_part(address, now):
            self._rejected += 1
            return []
        return self._offer_candidate((address, ssrc), sequence, timestamp, item, now)

    def _may_take_part(self, address: Address, now: float) -> bool:
        if self._address is not None and now - self._latched_at >= self.probation_s:
            return False  # locked: (address, SSRC) pinned for good
        if self._expected is not None and not self._expected.matches(address):
            return False
        return source_allowed(str(address[0]), self._networks)

    def _offer_candidate(
        self, key: tuple[Address, int], sequence: int, timestamp: int, item: T, now: float
    ) -> list[T]:
        candidate = self._candidates.get(key)
        if candidate is None:
            if len(self._candidates) >= MAX_CANDIDATES:
                oldest = next(iter(self._candidates))
                self._rejected += len(self._candidates.pop(oldest).held)
            candidate = self._candidates[key] = _Candidate(sequence, timestamp, item)
        elif self._follows(candidate, sequence, timestamp):
            candidate.sequence, candidate.timestamp = sequence, timestamp
            candidate.held.append(item)
            if len(candidate.held) > MAX_HELD:
                del candidate.held[0]
                self._rejected += 1
        else:
            # Out of sequence (a duplicate, a restart, junk): the run starts again here.
            self._rejected += len(candidate.held)
            candidate.sequence, candidate.timestamp = sequence, timestamp
            candidate.held = [item]
        if len(candidate.held) < self.required or not self._wins(key[0], now):
            return []
        return self._latch(key, candidate, now)

    def _follows(self, candidate: _Candidate[T], sequence: int, timestamp: int) -> bool:
        step = (timestamp - candidate.timestamp) & 0xFFFFFFFF
        return sequence == (candidate.sequence + 1) & 0xFFFF and step <= self._max_step

    def _wins(self, address: Address, now: float) -> bool:
        """Whether a qualified stream from ``address`` may (now) replace the latched one."""
        if self._address is None:
            return True
        if now - self._last_at >= self.quiet_s:
            return True  # the latched stream stopped: a burst, or a sender that re-keyed early
        preferred = self._preferred
        return (
            preferred is not None
            and now - self._latched_at < self.probation_s
            and host_ip(str(address[0])) == preferred
            and host_ip(str(self._address[0])) != preferred
        )

    def _latch(self, key: tuple[Address, int], candidate: _Candidate[T], now: float) -> list[T]:
        if self._address is None:
            self._latched_at = now
        else:
            self.takeovers += 1
        self._address, self._ssrc = key
        self._last_at = now
        del self._candidates[key]
        self._rejected += sum(len(other.held) for other in self._candidates.values())
        self._candidates.clear()
        return candidate.held
