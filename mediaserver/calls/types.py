"""The small vocabulary shared by transports and calls: transports, refusals, what a transport
knows about its side of a call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from mediaserver.calls.audio_sink import SinkFactory

# Events only the call core produces; a transport's `Call.emit` may not forge them.
CORE_EVENTS: Final = frozenset(
    {"session.created", "session.state", "session.hold", "session.closed", "dtmf"}
)
# Counters every transport reports in GET /v1/calls/{id} (0 where it has none).
BASE_STATS: Final = ("packets_received", "packets_lost", "packets_rejected", "concealed_ms")


class Transport(StrEnum):
    RTP = "rtp"
    AUDIOSOCKET = "audiosocket"
    WEBRTC = "webrtc"
    WEBSOCKET = "websocket"


class CallRefused(Exception):
    """A call cannot be created (draining, limits, its model is not installed); `status` is
    the HTTP status to answer, `param` the option at fault, if one is."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class TransportInfo:
    """What the transport knows about its side of the call, for GET /v1/calls/{id}."""

    codec: str = ""  # e.g. "PCMU", "PCMA", "L16", "opus", "slin16"
    remote: str | None = None  # "host:port" of the peer once known (never logged)
    # Called on demand to add transport counters to `stats` (packets_received, ...).
    stats: Callable[[], Mapping[str, int | float]] | None = field(default=None, compare=False)
    # Makes the call's outgoing audio sink (TTS); None: this transport cannot play audio.
    audio_out: SinkFactory | None = field(default=None, compare=False)
