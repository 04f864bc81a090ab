from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaserver.codecs.audiosocket import (
    AUDIO_RATES,
    Audio,
    AudioSocketParser,
    AudioSocketProtocolError,
    CallId,
    Dtmf,
    Hangup,
    Message,
    PeerError,
    encode_audio,
    encode_dtmf,
    encode_error,
    encode_hangup,
    encode_uuid,
)

CALL = uuid.UUID("4c2b8c2e-4f1d-4a53-9a3c-0f6f2d1e7b10")
PCM_20MS = bytes(range(256)) + bytes(64)  # 160 samples


def test_wire_format_of_encoders() -> None:
    assert encode_hangup() == b"\x00\x00\x00"
    assert encode_uuid(CALL) == b"\x01\x00\x10" + CALL.bytes
    assert encode_audio(b"\x01\x02\x03\x04") == b"\x10\x00\x04\x01\x02\x03\x04"
    assert encode_audio(b"\x00\x00", rate=16000) == b"\x12\x00\x02\x00\x00"
    assert encode_dtmf("#") == b"\x03\x00\x01#"
    assert encode_error(0x02) == b"\xff\x00\x01\x02"
    assert encode_error() == b"\xff\x00\x00"


@pytest.mark.parametrize(
    ("kind", "rate"),
    [(0x10, 8000), (0x11, 12000), (0x12, 16000), (0x13, 24000), (0x14, 32000),
     (0x15, 44100), (0x16, 48000), (0x17, 96000), (0x18, 192000)],
)  # fmt: skip
def test_audio_kinds_match_asterisk(kind: int, rate: int) -> None:
    assert AUDIO_RATES[kind] == rate
    assert encode_audio(b"\x00\x00", rate=rate)[0] == kind
    assert AudioSocketParser().feed(bytes([kind, 0, 2, 1, 0])) == [Audio(b"\x01\x00", rate)]


def conversation() -> tuple[bytes, list[Message]]:
    messages: list[Message] = [
        CallId(CALL),
        Audio(PCM_20MS, 8000),
        Dtmf("5"),
        Audio(PCM_20MS[:2], 8000),
        PeerError(1),
        PeerError(None),
        Hangup(),
    ]
    stream = (
        encode_uuid(CALL)
        + encode_audio(PCM_20MS)
        + encode_dtmf("5")
        + encode_audio(PCM_20MS[:2])
        + encode_error(1)
        + encode_error()
        + encode_hangup()
    )
    return stream, messages


def test_several_messages_in_one_read() -> None:
    stream, messages = conversation()
    parser = AudioSocketParser()
    assert parser.feed(stream) == messages
    assert parser.pending == 0


def test_byte_by_byte() -> None:
    stream, messages = conversation()
    parser = AudioSocketParser()
    got = [m for i in range(len(stream)) for m in parser.feed(stream[i : i + 1])]
    assert got == messages


@given(st.lists(st.integers(1, 400), max_size=30))
def test_any_split_of_the_stream(cuts: list[int]) -> None:
    stream, messages = conversation()
    parser = AudioSocketParser()
    got: list[Message] = []
    pos = 0
    for size in cuts:
        got += parser.feed(stream[pos : pos + size])
        pos += size
    got += parser.feed(stream[pos:])
    assert got == messages
    assert parser.pending == 0


def test_partial_frame_is_held_back() -> None:
    parser = AudioSocketParser()
    frame = encode_audio(PCM_20MS)
    assert parser.feed(frame[:100]) == []
    assert parser.pending == 100
    assert parser.feed(frame[100:]) == [Audio(PCM_20MS, 8000)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x02\x00\x00", "AudioSocket message kind 0x02 is unknown"),
        (b"\x19\x00\x00", "AudioSocket message kind 0x19 is unknown"),
        (b"\x10\x40\x02", "AudioSocket payload of 16386 bytes exceeds the 16384 limit"),
        (b"\x01\x00\x0f", "AudioSocket UUID payload must be 16 bytes, got 15"),
        (b"\x03\x00\x02", "AudioSocket DTMF payload must be 1 byte, got 2"),
        (b"\x10\x00\x03", "AudioSocket audio payload must be whole 16-bit samples, got 3 bytes"),
    ],
)
def test_bad_headers_raise_before_the_payload_arrives(data: bytes, message: str) -> None:
    parser = AudioSocketParser()
    with pytest.raises(AudioSocketProtocolError, match=message) as caught:
        parser.feed(data)
    assert isinstance(caught.value, ValueError)


def test_error_keeps_the_messages_before_it_and_the_parser_stays_failed() -> None:
    parser = AudioSocketParser()
    with pytest.raises(AudioSocketProtocolError) as caught:
        parser.feed(encode_dtmf("1") + b"\x07\x00\x00" + encode_hangup())
    assert caught.value.messages == [Dtmf("1")]
    with pytest.raises(AudioSocketProtocolError, match="0x07 is unknown"):
        parser.feed(encode_hangup())


def test_max_payload_is_configurable() -> None:
    parser = AudioSocketParser(max_payload=320)
    assert parser.feed(encode_audio(bytes(320))) == [Audio(bytes(320), 8000)]
    with pytest.raises(AudioSocketProtocolError, match="322 bytes exceeds the 320 limit"):
        parser.feed(encode_audio(bytes(322)))
    with pytest.raises(ValueError, match="max_payload"):
        AudioSocketParser(max_payload=0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: encode_audio(b"\x00\x00", rate=22050), "no message kind for 22050 Hz"),
        (lambda: encode_audio(b"\x00"), "even number of bytes"),
        (lambda: encode_audio(bytes(65536)), "exceeds 65535"),
        (lambda: encode_dtmf("x"), "not a DTMF digit"),
        (lambda: encode_dtmf("12"), "not a DTMF digit"),
        (lambda: encode_error(256), "out of range"),
    ],
)
def test_encoder_argument_errors(call: Callable[[], bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@given(st.binary(max_size=200))
def test_garbage_raises_protocol_error_or_parses(data: bytes) -> None:
    parser = AudioSocketParser()
    try:
        parser.feed(data)
    except AudioSocketProtocolError:
        return
