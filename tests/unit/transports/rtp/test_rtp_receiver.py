from __future__ import annotations

import struct

from mediaserver.codecs.g711 import ulaw_encode
from mediaserver.codecs.jitter import JitterBuffer
from mediaserver.codecs.rtp import RtpPacket
from mediaserver.transports.rtp.formats import RtpFormat
from mediaserver.transports.rtp.latch import SourceLatch
from mediaserver.transports.rtp.receiver import RtpReceiver
from tests.unit.transports.rtp.rtp_fakes import dtmf_packets, rtp

PBX = ("127.0.0.1", 30000)
JUNK = ("127.0.0.1", 30001)


def receiver(options: dict[str, object] | None = None, latch_packets: int = 3) -> RtpReceiver:
    fmt = RtpFormat.from_options(options or {})
    latch: SourceLatch[RtpPacket] = SourceLatch(latch_packets)
    return RtpReceiver(fmt, latch, JitterBuffer(fmt.sample_rate, fmt.frame_samples, 60, 200))


def tone(index: int, samples: int = 160) -> bytes:
    """A frame whose samples all equal a value derived from its packet index."""
    return struct.pack("<h", 1000 + 100 * index) * samples


def send_stream(
    r: RtpReceiver, count: int, *, start: float = 0.0, skip: frozenset[int] = frozenset()
) -> None:
    for i in range(count):
        if i not in skip:
            r.receive(rtp(1000 + i, 5000 + 160 * i, ulaw_encode(tone(i))), PBX, start + 0.02 * i)


def test_junk_rtcp_and_wrong_payload_types_never_latch() -> None:
    r = receiver(latch_packets=1)
    r.receive(b"\x00" * 3, JUNK, 0.0)  # too short
    r.receive(b"GET / HTTP/1.1\r\n\r\n", JUNK, 0.0)  # version 1
    r.receive(rtp(1, 0, b"\x01" * 160, payload_type=8), JUNK, 0.0)  # PCMA on a PCMU call
    r.receive(rtp(2, 0, b""), JUNK, 0.0)  # empty audio payload
    r.receive(rtp(3, 0, b"\x01\x02", payload_type=101), JUNK, 0.0)  # short telephone-event
    r.receive(bytes([0x80, 200]) + bytes(26), JUNK, 0.0)  # RTCP sender report
    assert r.malformed == 5
    assert r.rtcp == 1
    assert r.source is None
    assert r.received == 0
    assert r.pop(1.0) == b""


def test_audio_plays_after_latching_with_stats() -> None:
    r = receiver()
    send_stream(r, 50, skip=frozenset({20}))
    stats = r.stats()
    assert stats["packets_received"] == 49
    assert stats["packets_lost"] == 1
    # Playout starts 60 ms after the latching packet (the third, at 0.04 s).
    pcm = r.pop(0.04 + 0.06 + 0.02 * 49)
    assert len(pcm) == 50 * 320
    fmt = RtpFormat.from_options({})
    for i in range(50):
        frame = pcm[320 * i : 320 * (i + 1)]
        expected = fmt.decode(ulaw_encode(tone(i)))
        # The packets held while latching are played, not lost; 20 is concealed.
        assert (frame == expected) == (i != 20), i
    assert r.stats()["concealed_ms"] == 20.0


def test_other_source_after_latch_is_rejected_and_does_not_play() -> None:
    r = receiver()
    send_stream(r, 10)
    before = r.stats()
    for i in range(10):
        r.receive(rtp(9000 + i, 0, b"\xff" * 160, ssrc=0xBAD), JUNK, 0.2)
        r.receive(rtp(1010 + i, 5000 + 160 * (10 + i), b"\xff" * 160, ssrc=0xBAD), PBX, 0.2)
    after = r.stats()
    assert after["packets_rejected"] - before["packets_rejected"] == 20
    assert after["packets_received"] == before["packets_received"]
    assert after["packets_lost"] == before["packets_lost"]


def test_dtmf_digit_is_reported_once_and_its_sequence_numbers_are_not_lost() -> None:
    r = receiver()
    send_stream(r, 10)
    digits = ""
    for i, packet in enumerate(dtmf_packets(5, 1010, 5000 + 1600)):
        digits += r.receive(packet, PBX, 0.2 + 0.02 * i)
    assert digits == "5"
    # Audio resumes after the 7 event packets, timestamps moved on by the event's duration.
    for i in range(10):
        packet = rtp(1017 + i, 5000 + 1600 + 960 + 160 * i, ulaw_encode(tone(i)))
        r.receive(packet, PBX, 0.36 + 0.02 * i)
    r.pop(1.0)
    assert r.stats()["packets_lost"] == 0
    assert r.stats()["packets_received"] == 27


def test_unfinished_digit_is_flushed() -> None:
    r = receiver(latch_packets=1)
    for packet in dtmf_packets(11, 1, 0)[:3]:  # no end packets
        assert r.receive(packet, PBX, 0.0) == ""
    assert r.flush_dtmf() == "#"
    assert r.flush_dtmf() == ""


def test_l16_payload_is_swapped_to_little_endian() -> None:
    r = receiver({"codec": "L16", "sample_rate": 8000}, latch_packets=1)
    wire = struct.pack(">160h", *range(-80, 80))
    r.receive(rtp(1, 0, wire, payload_type=96), PBX, 0.0)
    r.receive(rtp(2, 160, wire[:3], payload_type=96), PBX, 0.02)  # odd: malformed
    assert r.stats()["packets_malformed"] == 1
    pcm = r.pop(0.07)
    assert pcm[:320] == struct.pack("<160h", *range(-80, 80))
