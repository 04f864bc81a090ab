from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator

import pytest

from mediaserver.codecs.g711 import ulaw_encode
from mediaserver.codecs.rtp import RtpPacket
from mediaserver.transports.rtp.formats import RtpFormat
from mediaserver.transports.rtp.sender import RtpPacketizer, RtpSender

pytestmark = pytest.mark.timeout(30)

PCMU = RtpFormat.from_options({})


def pcm(samples: int, value: int = 1000) -> bytes:
    return struct.pack("<h", value) * samples


def test_packets_have_consecutive_numbers_and_wrap() -> None:
    p = RtpPacketizer(PCMU, ssrc=7, sequence=0xFFFE, timestamp=0xFFFFFF00)
    packets = [RtpPacket.parse(b) for b in p.packetize(pcm(160 * 4), talkspurt_start=True)]
    assert [x.sequence_number for x in packets] == [0xFFFE, 0xFFFF, 0, 1]
    assert [x.timestamp for x in packets] == [0xFFFFFF00, 0xFFFFFFA0, 0x40, 0xE0]
    assert [x.marker for x in packets] == [True, False, False, False]
    assert {x.ssrc for x in packets} == {7}
    assert {x.payload_type for x in packets} == {0}
    assert packets[0].payload == ulaw_encode(pcm(160))


def test_partial_frames_wait_then_flush_pads_with_silence() -> None:
    p = RtpPacketizer(PCMU, sequence=1, timestamp=0)
    assert p.packetize(pcm(100)) == []
    first = p.packetize(pcm(100))  # 200 samples: one packet, 40 left
    assert len(first) == 1
    tail = RtpPacket.parse(p.flush()[0])
    assert tail.payload == ulaw_encode(pcm(40) + bytes(240))
    assert tail.sequence_number == 2
    assert p.flush() == []


def test_skip_moves_the_timestamp_and_rejects_bad_input() -> None:
    p = RtpPacketizer(PCMU, sequence=1, timestamp=1000)
    p.skip(800)
    assert RtpPacket.parse(p.packetize(pcm(160))[0]).timestamp == 1800
    with pytest.raises(ValueError, match="skip"):
        p.skip(-1)
    with pytest.raises(ValueError, match="even"):
        p.packetize(b"\x00")
    with pytest.raises(ValueError, match="ptime"):
        RtpPacketizer(PCMU, ptime_ms=25)


def test_l16_packets_are_big_endian() -> None:
    fmt = RtpFormat.from_options({"codec": "L16", "sample_rate": 16000, "payload_type": 97})
    p = RtpPacketizer(fmt)
    packet = RtpPacket.parse(p.packetize(struct.pack("<320h", *range(320)))[0])
    assert packet.payload_type == 97
    assert packet.payload == struct.pack(">320h", *range(320))


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


async def receive(sock: socket.socket, count: int) -> list[tuple[float, RtpPacket]]:
    loop = asyncio.get_running_loop()
    out = []
    for _ in range(count):
        data = await asyncio.wait_for(loop.sock_recv(sock, 2048), 2.0)
        out.append((loop.time(), RtpPacket.parse(data)))
    return out


async def test_sender_paces_on_deadlines(peer: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        sender = RtpSender(out.sendto, peer.getsockname(), RtpPacketizer(PCMU), loop)
        start = loop.time()
        sender.send(pcm(8000))  # one second
        assert sender.queued_s == pytest.approx(0.98)  # the first packet went out at once
        got = await receive(peer, 50)
        await asyncio.wait_for(sender.drained(), 1.0)
    assert sender.packets_sent == 50
    # Never early: packet n leaves at start + n * 20 ms or later.
    for n, (arrival, _) in enumerate(got):
        assert arrival >= start + n * 0.02 - 0.001
    assert got[-1][0] - got[0][0] >= 0.97
    sequences = [p.sequence_number for _, p in got]
    assert [(s - sequences[0]) & 0xFFFF for s in sequences] == list(range(50))
    assert [p.marker for _, p in got] == [True] + [False] * 49


async def test_new_talkspurt_after_a_gap_sets_marker_and_advances_time(
    peer: socket.socket,
) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        sender = RtpSender(out.sendto, peer.getsockname(), RtpPacketizer(PCMU), loop)
        sender.send(pcm(320))
        first = await receive(peer, 2)
        await sender.drained()
        await asyncio.sleep(0.2)
        sender.send(pcm(160))
        ((_, second),) = await receive(peer, 1)
    assert second.marker
    assert second.sequence_number == (first[1][1].sequence_number + 1) & 0xFFFF
    gap = (second.timestamp - first[1][1].timestamp) & 0xFFFFFFFF
    # 160 for the packet itself plus about 0.2 s of silence (1600) that was not sent.
    assert 160 + 1400 <= gap <= 160 + 1600 + 800


async def test_cancel_drops_what_is_queued(peer: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        sender = RtpSender(out.sendto, peer.getsockname(), RtpPacketizer(PCMU), loop)
        sender.send(pcm(8000))
        await receive(peer, 3)
        sender.cancel()
        await asyncio.wait_for(sender.drained(), 0.1)
        assert sender.queued_s == 0
        sent = sender.packets_sent
        await asyncio.sleep(0.1)
        assert sender.packets_sent == sent
        await receive(peer, sent - 3)  # what left before the cancel
        sender.send(pcm(160))
        ((_, restarted),) = await receive(peer, 1)
    assert restarted.marker
