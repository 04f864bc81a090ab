from __future__ import annotations

import struct
from typing import Any

import pytest

from mediaserver.codecs.g711 import alaw_encode, ulaw_encode
from mediaserver.transports.rtp.formats import RtpFormat


def test_defaults_are_pcmu_at_8000() -> None:
    fmt = RtpFormat.from_options({})
    assert (fmt.codec, fmt.sample_rate, fmt.send_payload_type) == ("PCMU", 8000, 0)
    assert fmt.payload_types == {0}
    assert fmt.dtmf_payload_type == 101
    assert fmt.frame_samples == 160


def test_pcma_and_explicit_payload_types() -> None:
    fmt = RtpFormat.from_options({"codec": "PCMA", "dtmf_payload_type": 96})
    assert fmt.payload_types == {8}
    assert fmt.dtmf_payload_type == 96


def test_l16_accepts_dynamic_and_static_types_unless_one_is_given() -> None:
    fmt = RtpFormat.from_options({"codec": "L16"})
    assert fmt.sample_rate == 16000
    assert {10, 11, 96, 127} <= fmt.payload_types
    assert 101 not in fmt.payload_types
    assert 0 not in fmt.payload_types
    given = RtpFormat.from_options({"codec": "L16", "sample_rate": 8000, "payload_type": 118})
    assert given.payload_types == {118}
    assert given.send_payload_type == 118


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"codec": "G729"}, "codec must be one of"),
        ({"codec": "PCMU", "sample_rate": 16000}, "must be 8000"),
        ({"codec": "L16", "sample_rate": 12345}, "sample_rate for L16"),
        ({"sample_rate": "8000"}, "sample_rate must be an integer"),
        ({"payload_type": 128}, "payload_type must be 0..127"),
        ({"dtmf_payload_type": True}, "dtmf_payload_type must be an integer"),
        ({"dtmf_payload_type": 0}, "collides"),
        ({"codec": "L16", "payload_type": 101}, "collides"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RtpFormat.from_options(options)


def test_l16_is_big_endian_on_the_wire() -> None:
    fmt = RtpFormat.from_options({"codec": "L16"})
    samples = [0, 1, -2, 0x1234, -32768, 32767]
    wire = struct.pack(f">{len(samples)}h", *samples)
    assert fmt.decode(wire) == struct.pack(f"<{len(samples)}h", *samples)
    assert fmt.encode(struct.pack(f"<{len(samples)}h", *samples)) == wire
    with pytest.raises(ValueError, match="even size"):
        fmt.decode(b"\x00\x01\x02")


def test_g711_round_trip_through_the_format() -> None:
    pcm = struct.pack("<4h", 0, 1000, -1000, 8000)
    ulaw = RtpFormat.from_options({"codec": "PCMU"})
    alaw = RtpFormat.from_options({"codec": "PCMA"})
    assert ulaw.encode(pcm) == ulaw_encode(pcm)
    assert alaw.encode(pcm) == alaw_encode(pcm)
    assert ulaw.encode(ulaw.decode(ulaw.encode(pcm))) == ulaw.encode(pcm)
