"""Strict RTP source latching; pure, no sockets, no clock.

A call's port is open to anyone who can reach it, so the call locks onto one source: the first
(address, SSRC) pair that sends ``required`` valid packets with consecutive sequence numbers.
Until then every candidate's packets are held, not played; when one candidate latches, its held
packets are released in order and the other candidates' held packets are rejected. After that,
packets from any other address or SSRC are rejected: they never reach the jitter buffer, the
VAD or the call state.

An optional allowlist (CIDR networks) is applied before a source can become a candidate.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A datagram source as asyncio reports it: (host, port) for IPv4, a 4-tuple for IPv6.
Address = tuple[Any, ...]

# Candidates tracked at once before latching; a flood of spoofed sources cannot grow memory.
MAX_CANDIDATES = 16


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


def source_allowed(host: str, networks: Sequence[Network]) -> bool:
    """Whether ``host`` is inside one of ``networks``; everything is allowed when there are none."""
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


class _Candidate(Generic[T]):
    __slots__ = ("held", "sequence")

    def __init__(self, sequence: int, item: T) -> None:
        self.sequence = sequence
        self.held = [item]


class SourceLatch(Generic[T]):
    """Decides, packet by packet, whether a source's packets belong to the call.

    ``offer`` returns the items (the caller's parsed packets) to process now: none while the
    source is a candidate or rejected, the held run when it latches, the item itself after.
    ``rejected`` counts every item that will never be returned.
    """

    __slots__ = ("_address", "_candidates", "_networks", "_ssrc", "rejected", "required")

    def __init__(self, required: int, networks: Sequence[Network] = ()) -> None:
        if required < 1:
            raise ValueError(f"latching needs at least 1 packet, got {required}")
        self.required = required
        self.rejected = 0
        self._networks = tuple(networks)
        self._address: Address | None = None
        self._ssrc = -1
        self._candidates: dict[tuple[Address, int], _Candidate[T]] = {}

    @property
    def source(self) -> tuple[Address, int] | None:
        """The latched (address, SSRC), or ``None`` before latching."""
        return None if self._address is None else (self._address, self._ssrc)

    def offer(self, address: Address, ssrc: int, sequence: int, item: T) -> list[T]:
        if self._address is not None:
            if address == self._address and ssrc == self._ssrc:
                return [item]
            self.rejected += 1
            return []
        if not source_allowed(str(address[0]), self._networks):
            self.rejected += 1
            return []
        return self._offer_candidate((address, ssrc), sequence, item)

    def _offer_candidate(self, key: tuple[Address, int], sequence: int, item: T) -> list[T]:
        candidate = self._candidates.get(key)
        if candidate is None:
            if len(self._candidates) >= MAX_CANDIDATES:
                oldest = next(iter(self._candidates))
                self.rejected += len(self._candidates.pop(oldest).held)
            candidate = self._candidates[key] = _Candidate(sequence, item)
        elif sequence == (candidate.sequence + 1) & 0xFFFF:
            candidate.sequence = sequence
            candidate.held.append(item)
        else:
            # Out of sequence (a duplicate, a restart): the run starts again from this packet.
            self.rejected += len(candidate.held)
            candidate.sequence = sequence
            candidate.held = [item]
        if len(candidate.held) < self.required:
            return []
        self._address, self._ssrc = key
        del self._candidates[key]
        self.rejected += sum(len(other.held) for other in self._candidates.values())
        self._candidates.clear()
        return candidate.held
