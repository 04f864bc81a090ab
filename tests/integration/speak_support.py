"""A real RTP peer for the in-call TTS tests: a UDP socket on loopback that streams µ-law
audio on 20 ms deadlines (like a PBX leg) and records every packet the server sends back."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mediaserver.calls.manager import Call, CallManager
from mediaserver.codecs.g711 import ulaw_decode, ulaw_encode
from mediaserver.codecs.rtp import RtpPacket
from mediaserver.config import Settings
from mediaserver.observability import Metrics
from mediaserver.transports.rtp.transport import RtpTransport
from tests.unit.calls.speaker_fakes import until

RATE = 8000
FRAME = 160


@dataclass
class Received:
    at: float
    packet: RtpPacket


@dataclass
class RtpPeer(asyncio.DatagramProtocol):
    received: list[Received] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        loop = asyncio.get_running_loop()
        self.received.append(Received(loop.time(), RtpPacket.parse(data)))
        self.arrived.set()

    async def stream(self, pcm: npt.NDArray[np.int16], port: int, seq: int = 0) -> int:
        """Send `pcm` to the call as µ-law packets on 20 ms deadlines; returns the next seq."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        count = len(pcm) // FRAME
        for n in range(count):
            frame = pcm[n * FRAME : (n + 1) * FRAME].astype("<i2").tobytes()
            packet = RtpPacket(
                0, (seq + n) & 0xFFFF, (seq + n) * FRAME, 0x1234, payload=ulaw_encode(frame)
            )
            self.transport.sendto(bytes(packet), ("127.0.0.1", port))
            delay = start + (n + 1) * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        return seq + count

    def audio(self, since: int = 0) -> npt.NDArray[np.int16]:
        pcm = b"".join(ulaw_decode(r.packet.payload) for r in self.received[since:])
        return np.frombuffer(pcm, "<i2")


@dataclass
class Rig:
    manager: CallManager
    rtp: RtpTransport
    peer: RtpPeer
    metrics: Metrics

    async def call(self, **options: Any) -> tuple[Call, int]:
        opened = await self.rtp.open_call({"codec": "PCMU", **options})
        return opened.call, opened.port


@contextlib.asynccontextmanager
async def rig(settings: Settings, tmp: Path) -> AsyncIterator[Rig]:
    metrics = Metrics()
    low = random.randrange(32000, 39000)
    rtp_settings = dataclasses.replace(settings.rtp, port_min=low, port_max=low + 20)
    manager = CallManager(settings, metrics)
    await manager.start()
    rtp = RtpTransport(rtp_settings, manager, metrics)
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(RtpPeer, local_addr=("127.0.0.1", 0))
    try:
        yield Rig(manager, rtp, peer, metrics)
    finally:
        if peer.transport is not None:
            peer.transport.close()
        await manager.stop(drain_s=2.0)
        await rtp.close()


async def collect(call: Call, into: list[dict[str, Any]]) -> None:
    async for event in call.subscribe():
        into.append(event)


async def wait_for(
    events: list[dict[str, Any]], kind: str, count: int = 1, within_s: float = 15
) -> None:
    await until(lambda: sum(e["type"] == kind for e in events) >= count, within_s)
