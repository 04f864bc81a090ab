"""Calls as the transports see them: one `Call` per live call, owned by the `CallManager`.

CONTRACT SKELETON (to be implemented by the call-core work; transports code against it):
every transport decodes its wire format to PCM16 at the source rate and calls `Call.feed`;
everything after that (preprocessing, batched VAD, session state, engine streaming,
post-processing, events to subscribers) happens behind this interface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Transport(StrEnum):
    RTP = "rtp"
    AUDIOSOCKET = "audiosocket"
    WEBRTC = "webrtc"
    WEBSOCKET = "websocket"


class CallRefused(Exception):
    """A call cannot be created now (draining, limits); `status` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class TransportInfo:
    """What the transport knows about its side of the call, for GET /v1/calls/{id}."""

    codec: str = ""  # e.g. "PCMU", "PCMA", "L16", "opus", "slin16"
    remote: str | None = None  # "host:port" of the peer once known (never logged)
    # Called on demand to add transport counters to `stats` (packets_received, ...).
    stats: Callable[[], Mapping[str, int | float]] | None = field(default=None, compare=False)


class Subscription:
    """An async iterator of event dicts for one subscriber (bounded; see Call.subscribe)."""

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class Call:
    id: str
    transport: Transport
    events_url: str

    @property
    def state(self) -> str:
        """Session state name in lower case: init, active, silence, hold, closing, closed."""
        raise NotImplementedError

    def feed(self, pcm: bytes, sample_rate: int) -> None:
        """PCM16 little-endian mono at `sample_rate`, any frame size. Never blocks."""
        raise NotImplementedError

    def dtmf(self, digit: str) -> None:
        """A DTMF digit from the peer (RFC 4733, AudioSocket, WebRTC): emits a `dtmf` event."""
        raise NotImplementedError

    def commit(self) -> None:
        """Force-commit the current speech (WS `input_audio_buffer.commit`)."""
        raise NotImplementedError

    async def close(self, reason: str = "requested") -> None:
        """Final flush (pending finals), then `session.closed`; idempotent."""
        raise NotImplementedError

    def subscribe(self) -> Subscription:
        """Events of this call from now on, ending after `session.closed`."""
        raise NotImplementedError

    def info(self, *, detail: bool = False) -> dict[str, Any]:
        """For GET /v1/calls (`detail=False`) and GET /v1/calls/{id} (`detail=True`)."""
        raise NotImplementedError

    async def wait_closed(self) -> None:
        raise NotImplementedError


class CallManager:
    def create(
        self,
        transport: Transport,
        options: Mapping[str, Any],
        info: TransportInfo,
        *,
        call_id: str | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> Call:
        """Validate `options` (the call-creation JSON: model, language, hot_words, vad, timeouts,
        denoise, itn/entities/redact...) and start a call. Raises `ValueError` with a precise
        message for bad options and `CallRefused` while draining or at the call limit.
        `on_close` runs once when the call is closed (the transport frees its port/socket)."""
        raise NotImplementedError

    def get(self, call_id: str) -> Call:
        """Raises KeyError for an unknown id."""
        raise NotImplementedError

    def calls(self) -> list[Call]:
        raise NotImplementedError
