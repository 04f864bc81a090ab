"""RTP packets for transport tests (the fake calls are `tests.fake_calls`)."""

from __future__ import annotations

from mediaserver.calls.manager import (
    CallRefused,
)
from mediaserver.codecs.dtmf import TelephoneEvent
from mediaserver.codecs.rtp import RtpPacket

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
