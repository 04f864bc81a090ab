"""The media format of one RTP call, read from the call-creation request; pure.

Request keys (all optional): ``codec`` (``PCMU`` default, ``PCMA``, ``L16``), ``sample_rate``
(8000 for G.711; L16 defaults to 16000, Asterisk's ``slin16``), ``payload_type`` (the audio
payload type the peer uses; for L16 any of 10, 11, 96-127 is accepted when absent) and
``dtmf_payload_type`` (RFC 4733 telephone-event, default 101).

L16 on RTP is big-endian (network order, RFC 3551 section 4.5.11); the call core takes PCM16
little-endian, so both directions swap bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mediaserver.codecs.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from mediaserver.codecs.jitter import COMFORT_NOISE

CODECS = ("PCMU", "PCMA", "L16")
STATIC_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
L16_STATIC = (10, 11)  # RFC 3551: L16 at 44.1 kHz stereo/mono; some PBXes reuse them
DYNAMIC = range(96, 128)
DEFAULT_DTMF_PAYLOAD_TYPE = 101
L16_DEFAULT_RATE = 16000
L16_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)

# The request keys that describe the media; the rest of the request is for the call core.
FORMAT_KEYS = ("codec", "sample_rate", "payload_type", "dtmf_payload_type")


def _int_option(options: Mapping[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def _payload_type_option(options: Mapping[str, Any], key: str) -> int | None:
    value = _int_option(options, key)
    if value is not None and not 0 <= value <= 127:
        raise ValueError(f"{key} must be 0..127, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class RtpFormat:
    codec: str
    sample_rate: int
    payload_types: frozenset[int]  # audio payload types accepted from the peer
    send_payload_type: int  # the one put on packets we send
    dtmf_payload_type: int

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RtpFormat:
        """Read and check the format keys of a call request; ``ValueError`` says which is bad."""
        codec = options.get("codec", "PCMU")
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
        rate = _int_option(options, "sample_rate")
        payload_type = _payload_type_option(options, "payload_type")
        dtmf = _payload_type_option(options, "dtmf_payload_type")
        dtmf = DEFAULT_DTMF_PAYLOAD_TYPE if dtmf is None else dtmf
        if codec == "L16":
            rate = L16_DEFAULT_RATE if rate is None else rate
            if rate not in L16_RATES:
                raise ValueError(f"sample_rate for L16 must be one of {L16_RATES}, got {rate}")
            accepted = (
                frozenset((*L16_STATIC, *DYNAMIC)) - {dtmf}
                if payload_type is None
                else frozenset((payload_type,))
            )
            send = 96 if payload_type is None else payload_type
        else:
            if rate not in (None, 8000):
                raise ValueError(f"sample_rate for {codec} must be 8000, got {rate}")
            rate = 8000
            send = STATIC_PAYLOAD_TYPES[codec] if payload_type is None else payload_type
            accepted = frozenset((send,))
        if dtmf in accepted or dtmf == COMFORT_NOISE:
            raise ValueError(f"dtmf_payload_type {dtmf} collides with an audio payload type")
        return cls(codec, rate, accepted, send, dtmf)

    @property
    def frame_samples(self) -> int:
        """Samples in a 20 ms packet."""
        return self.sample_rate // 50

    def decode(self, payload: bytes) -> bytes:
        """One packet's payload as PCM16 little-endian; ``ValueError`` for an odd L16 payload."""
        if self.codec == "PCMU":
            return ulaw_decode(payload)
        if self.codec == "PCMA":
            return alaw_decode(payload)
        if len(payload) & 1:
            raise ValueError(f"L16 payload must have an even size, got {len(payload)} bytes")
        swapped: bytes = np.frombuffer(payload, dtype=">i2").astype("<i2").tobytes()
        return swapped

    def encode(self, pcm: bytes) -> bytes:
        """PCM16 little-endian as this format's payload."""
        if self.codec == "PCMU":
            return ulaw_encode(pcm)
        if self.codec == "PCMA":
            return alaw_encode(pcm)
        if len(pcm) & 1:
            raise ValueError(f"PCM16 input must have an even number of bytes, got {len(pcm)}")
        swapped: bytes = np.frombuffer(pcm, dtype="<i2").astype(">i2").tobytes()
        return swapped
