"""The realtime WebSocket protocol's client messages, parsed without I/O.

Client -> server: binary frames are PCM16 little-endian mono at the session's input rate; text
frames are JSON objects with a ``type``: ``session.configure``, ``input_audio_buffer.commit``,
``session.cancel``, ``session.close``, ``tts.speak`` (``text``, optional ``voice`` and ``speed``:
the server speaks into the session, as binary PCM16 frames at the input rate, paced in real
time) and ``tts.cancel``.

``session.configure`` carries ``sample_rate`` (the transport's business) and call options
(``model``, ``language``, ``hot_words``, ``vad``, ``timeouts``, ``denoise``, ``itn``,
``entities``, ``redact``), which are passed to the call core as they are: it validates them and
names any unknown key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mediaserver.codecs.bounded_json import JsonError, parse_json

DEFAULT_SAMPLE_RATE: Final = 16000
MIN_SAMPLE_RATE: Final = 8000
MAX_SAMPLE_RATE: Final = 192000

CONFIGURE: Final = "session.configure"
COMMIT: Final = "input_audio_buffer.commit"
CANCEL: Final = "session.cancel"
CLOSE: Final = "session.close"
TTS_SPEAK: Final = "tts.speak"
TTS_CANCEL: Final = "tts.cancel"
CLIENT_TYPES: Final = frozenset({CONFIGURE, COMMIT, CANCEL, CLOSE, TTS_SPEAK, TTS_CANCEL})

# Query parameters of WS /v1/realtime that are call options (others, e.g. auth, are ignored).
QUERY_OPTIONS: Final = ("model", "language")


class ProtocolError(ValueError):
    """A client message the server cannot act on; ``code`` goes into the `error` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class ClientMessage:
    type: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Configure:
    """What one ``session.configure`` asks for: a new input rate and/or call options."""

    sample_rate: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def parse_client_message(text: str) -> ClientMessage:
    """A text frame as a typed message; raises `ProtocolError` (the client's fault)."""
    try:
        body = parse_json(text)
    except JsonError as exc:
        raise ProtocolError("invalid_json", f"message is {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError("invalid_message", "message must be a JSON object")
    kind = body.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_message", "message must have a string 'type'", "type")
    if kind not in CLIENT_TYPES:
        known = ", ".join(sorted(CLIENT_TYPES))
        raise ProtocolError(
            "unknown_message_type", f"unknown message type {kind!r} (known: {known})", "type"
        )
    return ClientMessage(kind, body)


@dataclass(frozen=True, slots=True)
class Speak:
    text: str
    voice: str | None = None
    speed: float = 1.0


def parse_speak(body: Mapping[str, Any]) -> Speak:
    """A ``tts.speak`` message; raises `ProtocolError` naming the bad field."""
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError("invalid_speak", "tts.speak needs a non-empty string 'text'", "text")
    voice = body.get("voice")
    if voice is not None and not isinstance(voice, str):
        raise ProtocolError("invalid_speak", "'voice' must be a string", "voice")
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ProtocolError("invalid_speak", "'speed' must be a number", "speed")
    return Speak(text, voice or None, float(speed))


def parse_sample_rate(value: object, param: str = "sample_rate") -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("invalid_sample_rate", f"{param} must be an integer in Hz", param)
    if not MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
        raise ProtocolError(
            "invalid_sample_rate",
            f"{param} must be within {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {value}",
            param,
        )
    return value


def parse_configure(body: Mapping[str, Any]) -> Configure:
    """Split a ``session.configure`` message into the input rate and the call options."""
    options = {key: value for key, value in body.items() if key not in ("type", "sample_rate")}
    rate = parse_sample_rate(body["sample_rate"]) if "sample_rate" in body else None
    return Configure(rate, options)


def options_from_query(query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """The input rate and call options given in the URL (``?model=...&sample_rate=8000``)."""
    rate = DEFAULT_SAMPLE_RATE
    if "sample_rate" in query:
        rate = parse_sample_rate(query["sample_rate"])
    return rate, {key: query[key] for key in QUERY_OPTIONS if key in query}
