"""Asterisk AudioSocket framing: a byte-stream parser and the encoders for our direction.

Every message is a 3-byte header (kind u8, payload length u16 big-endian) and the payload.
Kinds, as in Asterisk's res_audiosocket (types 0x11-0x18 since Asterisk PR #1492, 2025):

- 0x00 hangup, 0x01 the call's UUID (16 bytes), 0x03 one DTMF digit (1 ASCII byte),
- 0x10 signed linear 16-bit mono little-endian at 8 kHz, 0x11-0x18 the same at 12, 16, 24,
  32, 44.1, 48, 96 and 192 kHz,
- 0xff error; the optional payload byte is a bit set: 0x01 caller hung up, 0x02 frame
  forwarding error, 0x04 memory error.

Note: Asterisk's ``Dial(AudioSocket/...)`` channel driver sends 0x10 for whatever codec the
channel negotiated; use the ``AudioSocket()`` application or a slin codec to get real slin.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

HEADER_SIZE = 3
MAX_PAYLOAD = 0xFFFF
DEFAULT_MAX_PAYLOAD = 16384  # 20 ms at 192 kHz is 7680 bytes; 100 ms at 48 kHz is 9600


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    SLIN_8K = 0x10
    SLIN_12K = 0x11
    SLIN_16K = 0x12
    SLIN_24K = 0x13
    SLIN_32K = 0x14
    SLIN_44K = 0x15
    SLIN_48K = 0x16
    SLIN_96K = 0x17
    SLIN_192K = 0x18
    ERROR = 0xFF


AUDIO_RATES: dict[int, int] = {
    Kind.SLIN_8K: 8000,
    Kind.SLIN_12K: 12000,
    Kind.SLIN_16K: 16000,
    Kind.SLIN_24K: 24000,
    Kind.SLIN_32K: 32000,
    Kind.SLIN_44K: 44100,
    Kind.SLIN_48K: 48000,
    Kind.SLIN_96K: 96000,
    Kind.SLIN_192K: 192000,
}
_AUDIO_KINDS = {rate: kind for kind, rate in AUDIO_RATES.items()}
_KNOWN_KINDS = frozenset(int(kind) for kind in Kind)


@dataclass(frozen=True, slots=True)
class Hangup:
    """The peer asks to end the call."""


@dataclass(frozen=True, slots=True)
class CallId:
    """The stream's identifier, sent first by Asterisk: the UUID given to AudioSocket()."""

    uuid: uuid.UUID


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Audio:
    """PCM16 little-endian mono at ``sample_rate``."""

    pcm: bytes
    sample_rate: int


@dataclass(frozen=True, slots=True)
class PeerError:
    """Asterisk reports an error; ``code`` is None when the message carried no payload."""

    code: int | None


Message: TypeAlias = Hangup | CallId | Dtmf | Audio | PeerError


class AudioSocketProtocolError(ValueError):
    """The byte stream broke the protocol; framing is lost, so the connection must close.

    ``messages`` holds the well-formed messages that preceded the bad frame in the same feed.
    """

    def __init__(self, reason: str, messages: list[Message]) -> None:
        super().__init__(reason)
        self.messages = messages


class AudioSocketParser:
    """Incremental parser: ``feed`` any chunking of the byte stream, get whole messages back."""

    __slots__ = ("_buffer", "_error", "max_payload")

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        if not 0 < max_payload <= MAX_PAYLOAD:
            raise ValueError(f"max_payload must be 1-{MAX_PAYLOAD}, got {max_payload}")
        self.max_payload = max_payload
        self._buffer = bytearray()
        self._error: str | None = None

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        """Append ``data``; return the messages now complete, in order.

        Raises ``AudioSocketProtocolError`` on an unknown kind, an oversize or malformed frame;
        after that every call raises it again (the stream cannot be resynchronised).
        """
        if self._error is not None:
            raise AudioSocketProtocolError(self._error, [])
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        pos, size = 0, len(buffer)
        while size - pos >= HEADER_SIZE:
            kind = buffer[pos]
            length = (buffer[pos + 1] << 8) | buffer[pos + 2]
            reason = self._check_header(kind, length)
            if reason is not None:
                self._error = reason
                del buffer[:]
                raise AudioSocketProtocolError(reason, messages)
            end = pos + HEADER_SIZE + length
            if end > size:
                break
            messages.append(_decode(kind, bytes(buffer[pos + HEADER_SIZE : end])))
            pos = end
        del buffer[:pos]
        return messages

    def _check_header(self, kind: int, length: int) -> str | None:
        if kind not in _KNOWN_KINDS:
            return f"AudioSocket message kind 0x{kind:02x} is unknown"
        if length > self.max_payload:
            return f"AudioSocket payload of {length} bytes exceeds the {self.max_payload} limit"
        if kind == Kind.UUID and length != 16:
            return f"AudioSocket UUID payload must be 16 bytes, got {length}"
        if kind == Kind.DTMF and length != 1:
            return f"AudioSocket DTMF payload must be 1 byte, got {length}"
        if kind in AUDIO_RATES and length % 2:
            return f"AudioSocket audio payload must be whole 16-bit samples, got {length} bytes"
        return None


def _decode(kind: int, payload: bytes) -> Message:
    rate = AUDIO_RATES.get(kind)
    if rate is not None:
        return Audio(payload, rate)
    if kind == Kind.UUID:
        return CallId(uuid.UUID(bytes=payload))
    if kind == Kind.DTMF:
        return Dtmf(chr(payload[0]))
    if kind == Kind.ERROR:
        return PeerError(payload[0] if payload else None)
    return Hangup()


def _frame(kind: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"AudioSocket payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return bytes((kind, len(payload) >> 8, len(payload) & 0xFF)) + payload


def encode_audio(pcm: bytes, rate: int = 8000) -> bytes:
    """One audio message: PCM16 little-endian mono at ``rate`` (one of ``AUDIO_RATES``)."""
    kind = _AUDIO_KINDS.get(rate)
    if kind is None:
        raise ValueError(f"AudioSocket has no message kind for {rate} Hz audio")
    if len(pcm) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    return _frame(kind, pcm)


def encode_hangup() -> bytes:
    return _frame(Kind.HANGUP, b"")


def encode_uuid(call_id: uuid.UUID) -> bytes:
    return _frame(Kind.UUID, call_id.bytes)


def encode_dtmf(digit: str) -> bytes:
    if len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return _frame(Kind.DTMF, digit.encode("ascii"))


def encode_error(code: int | None = None) -> bytes:
    if code is None:
        return _frame(Kind.ERROR, b"")
    if not 0 <= code <= 255:
        raise ValueError(f"AudioSocket error code {code} is out of range 0-255")
    return _frame(Kind.ERROR, bytes((code,)))
