"""G.711 against an independent transcription of the ITU-T G.191 reference (g711.c).

The reference works on 16-bit left-justified samples: µ-law keeps 14 bits, A-law 13, and both
fold negative inputs by one's complement (``~x``) before quantising.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Callable

import pytest

from mediaserver.codecs.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from mediaserver.codecs.rtp import RtpPacket

from .recorded import PCMA_SINE_440, PCMU_SINE_440

ALL_INT16 = range(-32768, 32768)
Codec = Callable[[bytes], bytes]


def ref_ulaw_compress(sample: int) -> int:
    magnitude = ((~sample if sample < 0 else sample) >> 2) + 33
    magnitude = min(magnitude, 0x1FFF)
    segment = 1
    rest = magnitude >> 6
    while rest:
        segment += 1
        rest >>= 1
    code = ((8 - segment) << 4) | (0x0F - ((magnitude >> segment) & 0x0F))
    return code | 0x80 if sample >= 0 else code


def ref_ulaw_expand(code: int) -> int:
    inverted = ~code & 0xFF
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    step = 4 << (exponent + 1)
    value = (0x80 << exponent) + step * mantissa + step // 2 - 4 * 33
    return value if code >= 0x80 else -value


def ref_alaw_compress(sample: int) -> int:
    magnitude = (~sample if sample < 0 else sample) >> 4
    if magnitude > 15:
        exponent = 1
        while magnitude > 31:
            magnitude >>= 1
            exponent += 1
        magnitude = magnitude - 16 + (exponent << 4)
    if sample >= 0:
        magnitude |= 0x80
    return magnitude ^ 0x55


def ref_alaw_expand(code: int) -> int:
    folded = (code ^ 0x55) & 0x7F
    exponent = folded >> 4
    mantissa = folded & 0x0F
    if exponent > 0:
        mantissa += 16
    value = (mantissa << 4) + 8
    if exponent > 1:
        value <<= exponent - 1
    return value if code > 127 else -value


def pcm(samples: list[int] | range) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def samples(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def test_reference_sanity() -> None:
    # Spot values from the G.711 tables: silence and the extremes.
    assert ref_ulaw_expand(0xFF) == 0
    assert ref_ulaw_expand(0x80) == 32124
    assert ref_ulaw_expand(0x00) == -32124
    assert ref_alaw_expand(0xD5) == 8
    assert ref_alaw_expand(0xAA) == 32256
    assert ref_ulaw_compress(0) == 0xFF
    assert ref_alaw_compress(0) == 0xD5


def test_ulaw_decodes_all_256_code_words_like_the_reference() -> None:
    assert samples(ulaw_decode(bytes(range(256)))) == [ref_ulaw_expand(c) for c in range(256)]


def test_alaw_decodes_all_256_code_words_like_the_reference() -> None:
    assert samples(alaw_decode(bytes(range(256)))) == [ref_alaw_expand(c) for c in range(256)]


def test_ulaw_encodes_every_int16_like_the_reference() -> None:
    assert ulaw_encode(pcm(ALL_INT16)) == bytes(ref_ulaw_compress(x) for x in ALL_INT16)


def test_alaw_encodes_every_int16_like_the_reference() -> None:
    assert alaw_encode(pcm(ALL_INT16)) == bytes(ref_alaw_compress(x) for x in ALL_INT16)


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_decoded_values_are_fixed_points(encode: Codec, decode: Codec) -> None:
    codes = bytes(range(256))
    decoded = decode(codes)
    # µ-law has two zeros (0x7F and 0xFF); both decode to 0, which encodes as 0xFF.
    assert decode(encode(decoded)) == decoded


@pytest.mark.parametrize("encode", [ulaw_encode, alaw_encode])
def test_odd_length_pcm_is_rejected(encode: Codec) -> None:
    with pytest.raises(ValueError, match="even number of bytes, got 3"):
        encode(b"\x00\x01\x02")


def test_empty_input() -> None:
    assert ulaw_decode(b"") == alaw_decode(b"") == ulaw_encode(b"") == alaw_encode(b"") == b""


def _dominant_frequency(data: bytes, rate: int) -> float:
    values = samples(data)
    crossings = sum(1 for a, b in itertools.pairwise(values) if a < 0 <= b)
    return crossings * rate / len(values)


@pytest.mark.parametrize(
    ("packet", "decode"), [(PCMU_SINE_440[0], ulaw_decode), (PCMA_SINE_440, alaw_decode)]
)
def test_recorded_sine_decodes_to_440_hz(packet: bytes, decode: Codec) -> None:
    audio = decode(RtpPacket.parse(packet).payload)
    assert len(audio) == 320
    assert math.isclose(_dominant_frequency(audio, 8000), 440, rel_tol=0.15)
    peak = max(abs(v) for v in samples(audio))
    assert 3000 < peak < 5000  # ffmpeg's sine source is 1/8 of full scale
