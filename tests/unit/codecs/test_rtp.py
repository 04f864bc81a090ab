from __future__ import annotations

import re
import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mediaserver.codecs.rtp import (
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    RtpPacket,
    pack_extensions,
    unpack_extensions,
)

from .recorded import PCMA_SINE_440, PCMU_SINE_440


def header(
    *, version: int = 2, padding: bool = False, extension: bool = False, csrc_count: int = 0
) -> bytes:
    first = (version << 6) | (padding << 5) | (extension << 4) | csrc_count
    return struct.pack("!BBHII", first, 0, 1, 2, 3)


# --- recorded packets ---------------------------------------------------------------------


def test_parses_recorded_pcmu_packets() -> None:
    first, second = (RtpPacket.parse(p) for p in PCMU_SINE_440)
    assert (first.payload_type, first.marker) == (0, False)
    assert (first.sequence_number, first.timestamp, first.ssrc) == (0x0EB1, 0x6C8F4398, 0x19C563AA)
    assert len(first.payload) == 160
    assert first.csrcs == ()
    assert first.extension_profile is None
    assert first.padding_size == 0
    assert second.sequence_number == first.sequence_number + 1
    assert second.timestamp == first.timestamp + 160
    assert second.ssrc == first.ssrc


def test_parses_recorded_pcma_packet() -> None:
    packet = RtpPacket.parse(PCMA_SINE_440)
    assert (packet.payload_type, packet.sequence_number, len(packet.payload)) == (8, 0x0335, 160)


@pytest.mark.parametrize("data", [*PCMU_SINE_440, PCMA_SINE_440])
def test_recorded_packets_round_trip_exactly(data: bytes) -> None:
    assert bytes(RtpPacket.parse(data)) == data


# --- malformed packets: exact messages ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTP packet truncated: 0 bytes < 12-byte header"),
        (header()[:9], "RTP packet truncated: 9 bytes < 12-byte header"),
        (header(version=1), "RTP version 1 is not supported (expected 2)"),
        (header(version=0) + b"\x00" * 20, "RTP version 0 is not supported (expected 2)"),
        (header(csrc_count=3) + bytes(4), "RTP CSRC count 3 needs 24 bytes, got 16"),
        (header(csrc_count=15), "RTP CSRC count 15 needs 72 bytes, got 12"),
        (
            header(extension=True) + b"\xbe\xde",
            "RTP header extension truncated: needs 16 bytes, got 14",
        ),
        (
            header(extension=True) + b"\xbe\xde\x00\x02" + bytes(4),
            "RTP header extension of 2 words needs 24 bytes, got 20",
        ),
        (
            header(extension=True, csrc_count=1) + bytes(4) + b"\x10\x00\x00\x01",
            "RTP header extension of 1 words needs 24 bytes, got 20",
        ),
        (header(padding=True), "RTP padding bit set but no bytes follow the header"),
        (header(padding=True) + b"\x01\x02\x00", "RTP padding count 0 is invalid"),
        (
            header(padding=True) + b"\x01\x02\x04",
            "RTP padding count 4 exceeds the 3 bytes after the header",
        ),
        (
            header(padding=True, extension=True) + b"\xbe\xde\x00\x01\x10\x01\x00\x00" + b"\x05",
            "RTP padding count 5 exceeds the 1 bytes after the header",
        ),
        (
            header(extension=True) + b"\xbe\xde\x00\x01\x13\x01\x02\x03",
            "RTP one-byte extension element 1 needs 4 bytes, 3 left",
        ),
        (
            header(extension=True) + b"\x10\x00\x00\x01\x00\x00\x00\x07",
            "RTP two-byte extension element 7 has no length byte",
        ),
        (
            header(extension=True) + b"\x10\x00\x00\x01\x05\x03\xaa\xbb",
            "RTP two-byte extension element 5 needs 3 bytes, 2 left",
        ),
    ],
)
def test_malformed_packet_raises_precise_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        RtpPacket.parse(data)


def test_padding_equal_to_everything_after_the_header_is_valid() -> None:
    packet = RtpPacket.parse(header(padding=True) + b"\x00\x00\x03")
    assert packet.payload == b""
    assert packet.padding_size == 3


# --- header extensions --------------------------------------------------------------------


def test_one_byte_extension_elements_with_padding_between_them() -> None:
    # id 1 (1 byte), two padding bytes, id 3 (2 bytes), then padding to the word boundary.
    block = b"\x10\xaa\x00\x00\x31\xbb\xcc\x00"
    packet = RtpPacket.parse(header(extension=True) + b"\xbe\xde\x00\x02" + block + b"payload")
    assert packet.extension_profile == ONE_BYTE_PROFILE
    assert packet.extensions == ((1, b"\xaa"), (3, b"\xbb\xcc"))
    assert packet.payload == b"payload"


def test_one_byte_id_15_stops_parsing() -> None:
    assert unpack_extensions(ONE_BYTE_PROFILE, b"\x10\xaa\xf0\x55") == ((1, b"\xaa"),)


def test_two_byte_extension_with_appbits_and_empty_value() -> None:
    block = b"\x07\x00\x09\x02\x01\x02\x00\x00"
    assert unpack_extensions(0x1003, block) == ((7, b""), (9, b"\x01\x02"))


def test_generic_rfc3550_extension_is_opaque_and_round_trips() -> None:
    data = header(extension=True) + b"\xab\xcd\x00\x01" + b"\xff\xff\xff\xff" + b"pl"
    packet = RtpPacket.parse(data)
    assert (packet.extension_profile, packet.extension_data) == (0xABCD, b"\xff" * 4)
    assert packet.extensions == ()
    assert bytes(packet) == data


@pytest.mark.parametrize(
    ("elements", "profile"),
    [
        ([(1, b"\x01"), (14, bytes(16))], ONE_BYTE_PROFILE),
        ([(15, b"\x01")], TWO_BYTE_PROFILE),
        ([(1, b"")], TWO_BYTE_PROFILE),
        ([(200, bytes(17))], TWO_BYTE_PROFILE),
    ],
)
def test_pack_extensions_picks_the_form_and_unpacks_back(
    elements: list[tuple[int, bytes]], profile: int
) -> None:
    got_profile, data = pack_extensions(elements)
    assert got_profile == profile
    assert len(data) % 4 == 0
    assert list(unpack_extensions(got_profile, data)) == elements


def test_interoperates_with_aiortc() -> None:
    aiortc_rtp = pytest.importorskip("aiortc.rtp")
    parameters = pytest.importorskip("aiortc.rtcrtpparameters")
    extensions_map = aiortc_rtp.HeaderExtensionsMap()
    extensions_map.configure(
        parameters.RTCRtpParameters(
            headerExtensions=[
                parameters.RTCRtpHeaderExtensionParameters(
                    id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
                ),
                parameters.RTCRtpHeaderExtensionParameters(
                    id=3, uri="urn:ietf:params:rtp-hdrext:sdes:mid"
                ),
            ]
        )
    )
    theirs = aiortc_rtp.RtpPacket(
        payload_type=111, marker=1, sequence_number=65535, timestamp=2**32 - 1, ssrc=0xDEADBEEF
    )
    theirs.csrc = [7, 8]
    theirs.payload = b"opus frame"
    theirs.padding_size = 3
    theirs.extensions.audio_level = (True, 40)
    theirs.extensions.mid = "0"
    data = theirs.serialize(extensions_map)

    ours = RtpPacket.parse(data)
    assert (ours.payload_type, ours.marker, ours.sequence_number, ours.timestamp) == (
        111,
        True,
        65535,
        2**32 - 1,
    )
    assert (ours.ssrc, ours.csrcs, ours.payload, ours.padding_size) == (
        0xDEADBEEF,
        (7, 8),
        b"opus frame",
        3,
    )
    assert ours.extension_profile == ONE_BYTE_PROFILE
    assert dict(ours.extensions) == {1: bytes([0x80 | 40]), 3: b"0"}

    back = aiortc_rtp.RtpPacket.parse(bytes(ours), extensions_map)
    assert (back.extensions.audio_level, back.extensions.mid) == ((True, 40), "0")
    assert (back.csrc, back.payload, back.padding_size) == ([7, 8], b"opus frame", 3)


# --- serialization ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (RtpPacket(payload_type=128), "payload type 128"),
        (RtpPacket(sequence_number=65536), "field out of range"),
        (RtpPacket(ssrc=-1), "field out of range"),
        (RtpPacket(csrcs=tuple(range(16))), "at most 15 CSRCs"),
        (RtpPacket(padding_size=256), "padding size 256"),
        (RtpPacket(extension_profile=1, extension_data=b"abc"), "multiple of 4"),
    ],
)
def test_serializing_invalid_fields_raises_value_error(packet: RtpPacket, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bytes(packet)


extension_blocks = st.one_of(
    st.none(),
    st.lists(
        st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)), min_size=1, max_size=4
    ).map(pack_extensions),
    st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=40)), min_size=1, max_size=3).map(
        lambda e: (TWO_BYTE_PROFILE | 0x5, _two_byte_block(e))
    ),
)


def _two_byte_block(elements: list[tuple[int, bytes]]) -> bytes:
    block = b"".join(bytes((i, len(v))) + v for i, v in elements)
    return block + bytes(-len(block) % 4)


@st.composite
def packets(draw: st.DrawFn) -> RtpPacket:
    block = draw(extension_blocks)
    profile, data = block if block is not None else (None, b"")
    return RtpPacket(
        payload_type=draw(st.integers(0, 127)),
        sequence_number=draw(st.integers(0, 0xFFFF)),
        timestamp=draw(st.integers(0, 0xFFFFFFFF)),
        ssrc=draw(st.integers(0, 0xFFFFFFFF)),
        marker=draw(st.booleans()),
        csrcs=tuple(draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=15))),
        extension_profile=profile,
        extension_data=data,
        extensions=unpack_extensions(profile, data) if profile is not None else (),
        payload=draw(st.binary(max_size=200)),
        padding_size=draw(st.integers(0, 255)),
    )


@given(packets())
def test_valid_packets_round_trip(packet: RtpPacket) -> None:
    data = bytes(packet)
    assert RtpPacket.parse(data) == packet
    assert bytes(RtpPacket.parse(data)) == data


# --- fuzzing: ValueError and nothing else -------------------------------------------------


def _parse_or_value_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except ValueError:
        return
    # Whatever parses must serialize to bytes that parse to the same packet.
    assert RtpPacket.parse(bytes(packet)) == packet


@settings(max_examples=500)
@given(st.binary(max_size=120))
@example(b"\x90" + bytes(11) + b"\xbe\xde\x00\x01\x1f\x00\x00\x00")
def test_arbitrary_bytes_parse_or_raise_value_error(data: bytes) -> None:
    _parse_or_value_error(data)


@settings(max_examples=500)
@given(
    packets(),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    st.integers(0, 300),
)
def test_mutated_valid_packets_parse_or_raise_value_error(
    packet: RtpPacket, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(bytes(packet))
    for index, value in flips:
        data[index % len(data)] = value
    _parse_or_value_error(bytes(data[: len(data) - cut % (len(data) + 1)]))
