"""A recording CallManager/Call for transport tests, and an RTP packet builder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mediaserver.calls.manager import (
    Call,
    CallManager,
    CallRefused,
    Subscription,
    Transport,
    TransportInfo,
)
from mediaserver.codecs.dtmf import TelephoneEvent
from mediaserver.codecs.rtp import RtpPacket


class FakeCall(Call):
    def __init__(self, call_id: str, info: TransportInfo, on_close: Callable[[], None] | None):
        self.id = call_id
        self.transport = Transport.RTP
        self.events_url = f"/v1/calls/{call_id}/events"
        self.transport_info = info
        self.fed = bytearray()
        self.feeds: list[tuple[float, int, int]] = []  # (loop time, bytes, rate)
        self.digits: list[str] = []
        self.close_reasons: list[str] = []
        self._on_close = on_close
        self._closed = asyncio.Event()

    @property
    def state(self) -> str:
        return "closed" if self._closed.is_set() else "active"

    def feed(self, pcm: bytes, sample_rate: int) -> None:
        self.fed += pcm
        self.feeds.append((asyncio.get_running_loop().time(), len(pcm), sample_rate))

    def dtmf(self, digit: str) -> None:
        self.digits.append(digit)

    def commit(self) -> None:
        pass

    async def close(self, reason: str = "requested") -> None:
        self.close_reasons.append(reason)
        if self._closed.is_set():
            return
        self._closed.set()
        if self._on_close is not None:
            self._on_close()

    def subscribe(self) -> Subscription:
        raise NotImplementedError

    def info(self, *, detail: bool = False) -> dict[str, Any]:
        stats = self.transport_info.stats
        return {"id": self.id, "stats": dict(stats()) if stats else {}}

    async def wait_closed(self) -> None:
        await self._closed.wait()


@dataclass
class FakeCallManager(CallManager):
    """Creates FakeCalls; `fail` makes the next create raise it."""

    created: list[FakeCall] = field(default_factory=list)
    options: list[Mapping[str, Any]] = field(default_factory=list)
    fail: Exception | None = None

    def create(
        self,
        transport: Transport,
        options: Mapping[str, Any],
        info: TransportInfo,
        *,
        call_id: str | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> Call:
        if self.fail is not None:
            raise self.fail
        if "bad" in options:
            raise ValueError("unknown option bad")
        call = FakeCall(call_id or f"call-{len(self.created)}", info, on_close)
        self.created.append(call)
        self.options.append(dict(options))
        return call

    def get(self, call_id: str) -> Call:
        for call in self.created:
            if call.id == call_id:
                return call
        raise KeyError(call_id)

    def calls(self) -> list[Call]:
        return list(self.created)


REFUSED = CallRefused(503, "draining", "the server is draining")


def rtp(
    sequence: int,
    timestamp: int,
    payload: bytes,
    *,
    ssrc: int = 0x11223344,
    payload_type: int = 0,
    marker: bool = False,
) -> bytes:
    return bytes(
        RtpPacket(payload_type, sequence & 0xFFFF, timestamp, ssrc, marker, payload=payload)
    )


def dtmf_packets(
    event: int, sequence: int, timestamp: int, *, ssrc: int = 0x11223344, steps: int = 4
) -> list[bytes]:
    """An RFC 4733 key press: `steps` growing-duration packets, then three end packets."""
    packets = []
    for i in range(steps):
        body = bytes(TelephoneEvent(event, False, 10, 160 * (i + 1)))
        packets.append(rtp(sequence + i, timestamp, body, ssrc=ssrc, payload_type=101))
    end = bytes(TelephoneEvent(event, True, 10, 160 * (steps + 1)))
    for i in range(3):
        packets.append(rtp(sequence + steps + i, timestamp, end, ssrc=ssrc, payload_type=101))
    return packets
