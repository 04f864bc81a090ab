"""RTP packets (RFC 3550) with RFC 8285 header extensions: ``parse(data)`` and ``bytes(packet)``.

Everything that comes off the wire is checked before it is trusted: a malformed packet raises
``ValueError`` with a message naming what is wrong, never ``IndexError`` or ``struct.error``.
RTCP demultiplexing (RFC 5761) belongs to the transport, not here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
RTP_HEADER_SIZE = 12

# RFC 8285 section 4.2/4.3: the profile word says how the extension block is laid out.
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE = 0x1000  # the low 4 bits ("appbits") are free for the application
TWO_BYTE_PROFILE_MASK = 0xFFF0

_FIXED_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet. ``bytes(packet)`` serializes it; ``RtpPacket.parse`` reads one.

    ``extension_profile`` is ``None`` when the packet has no header extension (X bit clear).
    ``extension_data`` is the raw extension block (its length a multiple of 4) and
    ``extensions`` the RFC 8285 elements found in it as ``(id, value)`` pairs; for a profile
    other than one-byte/two-byte the block is opaque and ``extensions`` is empty.
    ``padding_size`` is the number of padding bytes after the payload (P bit set when > 0).
    """

    payload_type: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    ssrc: int = 0
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension_data: bytes = b""
    extensions: tuple[tuple[int, bytes], ...] = ()
    payload: bytes = b""
    padding_size: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet; raise ``ValueError`` with a precise reason if it is malformed."""
        size = len(data)
        if size < RTP_HEADER_SIZE:
            raise ValueError(f"RTP packet truncated: {size} bytes < {RTP_HEADER_SIZE}-byte header")
        first, second, sequence_number, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise ValueError(f"RTP version {version} is not supported (expected 2)")

        csrc_count = first & 0x0F
        pos = RTP_HEADER_SIZE + 4 * csrc_count
        if size < pos:
            raise ValueError(f"RTP CSRC count {csrc_count} needs {pos} bytes, got {size}")
        csrcs = struct.unpack_from(f"!{csrc_count}I", data, RTP_HEADER_SIZE) if csrc_count else ()

        extension_profile: int | None = None
        extension_data = b""
        extensions: tuple[tuple[int, bytes], ...] = ()
        if first & 0x10:
            extension_profile, extension_data, pos = _read_extension(data, pos)
            extensions = unpack_extensions(extension_profile, extension_data)

        end = size
        padding_size = 0
        if first & 0x20:
            if end == pos:
                raise ValueError("RTP padding bit set but no bytes follow the header")
            padding_size = data[-1]
            if padding_size == 0:
                raise ValueError("RTP padding count 0 is invalid")
            if padding_size > end - pos:
                raise ValueError(
                    f"RTP padding count {padding_size} exceeds the {end - pos} bytes "
                    "after the header"
                )
            end -= padding_size

        # Positional: keyword construction of a slotted dataclass costs ~4x more per packet.
        return cls(
            second & 0x7F,
            sequence_number,
            timestamp,
            ssrc,
            bool(second & 0x80),
            csrcs,
            extension_profile,
            extension_data,
            extensions,
            data[pos:end],
            padding_size,
        )

    def __bytes__(self) -> bytes:
        if not 0 <= self.payload_type <= 0x7F:
            raise ValueError(f"RTP payload type {self.payload_type} is out of range 0-127")
        if len(self.csrcs) > 15:
            raise ValueError(f"RTP allows at most 15 CSRCs, got {len(self.csrcs)}")
        if not 0 <= self.padding_size <= 255:
            raise ValueError(f"RTP padding size {self.padding_size} is out of range 0-255")
        if len(self.extension_data) % 4:
            raise ValueError(
                f"RTP header extension data must be a multiple of 4 bytes, "
                f"got {len(self.extension_data)}"
            )
        first = (RTP_VERSION << 6) | len(self.csrcs)
        if self.padding_size:
            first |= 0x20
        if self.extension_profile is not None:
            first |= 0x10
        try:
            parts = [
                _FIXED_HEADER.pack(
                    first,
                    (0x80 if self.marker else 0) | self.payload_type,
                    self.sequence_number,
                    self.timestamp,
                    self.ssrc,
                )
            ]
            if self.csrcs:
                parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
            if self.extension_profile is not None:
                parts.append(
                    _EXTENSION_HEADER.pack(self.extension_profile, len(self.extension_data) // 4)
                )
                parts.append(self.extension_data)
        except struct.error as exc:
            raise ValueError(f"RTP header field out of range: {exc}") from None
        parts.append(self.payload)
        if self.padding_size:
            parts.append(bytes(self.padding_size - 1) + bytes((self.padding_size,)))
        return b"".join(parts)


def _read_extension(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """The extension block at ``pos``: (profile, block, position after it)."""
    size = len(data)
    if size < pos + 4:
        raise ValueError(f"RTP header extension truncated: needs {pos + 4} bytes, got {size}")
    profile, words = _EXTENSION_HEADER.unpack_from(data, pos)
    end = pos + 4 + 4 * words
    if size < end:
        raise ValueError(f"RTP header extension of {words} words needs {end} bytes, got {size}")
    return profile, data[pos + 4 : end], end


def unpack_extensions(profile: int, data: bytes) -> tuple[tuple[int, bytes], ...]:
    """Split an RFC 8285 extension block into ``(id, value)`` elements.

    Zero bytes between elements are padding and skipped. In the one-byte form, id 15 means
    "stop parsing here" (RFC 8285 section 4.2). Other profiles are opaque: no elements.
    """
    if profile == ONE_BYTE_PROFILE:
        return _unpack_one_byte(data)
    if profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
        return _unpack_two_byte(data)
    return ()


def _unpack_one_byte(data: bytes) -> tuple[tuple[int, bytes], ...]:
    elements: list[tuple[int, bytes]] = []
    pos, size = 0, len(data)
    while pos < size:
        head = data[pos]
        if head == 0:
            pos += 1
            continue
        element_id = head >> 4
        if element_id == 15:
            break
        length = (head & 0x0F) + 1
        pos += 1
        if pos + length > size:
            raise ValueError(
                f"RTP one-byte extension element {element_id} needs {length} bytes, "
                f"{size - pos} left"
            )
        elements.append((element_id, data[pos : pos + length]))
        pos += length
    return tuple(elements)


def _unpack_two_byte(data: bytes) -> tuple[tuple[int, bytes], ...]:
    elements: list[tuple[int, bytes]] = []
    pos, size = 0, len(data)
    while pos < size:
        element_id = data[pos]
        if element_id == 0:
            pos += 1
            continue
        if pos + 2 > size:
            raise ValueError(f"RTP two-byte extension element {element_id} has no length byte")
        length = data[pos + 1]
        pos += 2
        if pos + length > size:
            raise ValueError(
                f"RTP two-byte extension element {element_id} needs {length} bytes, "
                f"{size - pos} left"
            )
        elements.append((element_id, data[pos : pos + length]))
        pos += length
    return tuple(elements)


def pack_extensions(elements: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    """Build ``(profile, data)`` for ``RtpPacket`` from RFC 8285 elements.

    The one-byte form is used when every id is 1-14 and every value 1-16 bytes, the two-byte
    form otherwise (ids 1-255, values 0-255 bytes). The block is zero-padded to 32 bits.
    """
    if not elements:
        raise ValueError("RTP header extension needs at least one element")
    one_byte = all(1 <= i <= 14 and 1 <= len(v) <= 16 for i, v in elements)
    out = bytearray()
    for element_id, value in elements:
        if one_byte:
            out.append((element_id << 4) | (len(value) - 1))
        else:
            if not 1 <= element_id <= 255 or len(value) > 255:
                raise ValueError(
                    f"RTP extension element {element_id} with {len(value)} bytes "
                    "does not fit the two-byte form"
                )
            out += bytes((element_id, len(value)))
        out += value
    out += bytes(-len(out) % 4)
    return (ONE_BYTE_PROFILE if one_byte else TWO_BYTE_PROFILE), bytes(out)
