"""The decode child's protocol: one JSON request line in, then the file; framed messages out.

Parent to child (stdin): a JSON `Request` line, then exactly `input_bytes` of the file (none when
the child opens a local `path` itself). Child to parent (stdout): frames of a one-byte kind, a
4-byte little-endian length and the payload: INFO (JSON), AUDIO (PCM16 LE, interleaved rows),
then DONE (JSON) or ERROR (JSON `{"reason", "limit"}`). Pure: no I/O here.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from typing import Any, Final

INFO: Final = b"I"
AUDIO: Final = b"A"
DONE: Final = b"D"
ERROR: Final = b"E"
KINDS: Final = frozenset({INFO, AUDIO, DONE, ERROR})
HEADER: Final = struct.Struct("<cI")
# The child sends audio in pieces of a few frames; anything bigger is not our child talking.
MAX_FRAME_BYTES: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    sample_rate: int
    channels: str | int  # "mix", "all" or a channel index
    max_duration_s: float
    max_decode_s: float
    max_channels: int
    memory_bytes: int  # the child's address-space limit
    input_bytes: int = 0  # file bytes following on stdin
    path: str | None = None  # or a local file the child opens itself (the CLI)

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> Request:
        return cls(**json.loads(line))


def frame(kind: bytes, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def json_frame(kind: bytes, body: dict[str, Any]) -> bytes:
    return frame(kind, json.dumps(body).encode())


def parse_header(header: bytes) -> tuple[bytes, int]:
    """(kind, payload length) of a frame header; ValueError for anything the child never sends."""
    kind, length = HEADER.unpack(header)
    if kind not in KINDS or length > MAX_FRAME_BYTES:
        raise ValueError(f"bad frame from the decode child: kind {kind!r}, {length} bytes")
    return kind, length


def json_body(payload: bytes) -> dict[str, Any]:
    body = json.loads(payload)
    if not isinstance(body, dict):
        raise ValueError("the decode child sent a JSON frame that is not an object")
    return body
