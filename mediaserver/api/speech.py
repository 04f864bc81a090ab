"""POST /v1/audio/speech (OpenAI-compatible) and GET /v1/voices.

Speech is streamed: the response starts with the first clause's audio while the worker is
still synthesizing the rest. Choices where OpenAI's contract does not fit ours:

- `model` defaults to `models.default_tts` (espeak-ng, always installed); an unknown model is a
  404 naming `mediaserver pull`.
- `voice` is one of the model's voices (GET /v1/voices); OpenAI's names (alloy, nova...) are
  not ours and get a 400 listing valid ones. Missing: the model's default voice.
- `response_format`: `mp3` (the default, as OpenAI), `opus` (Ogg), `flac`, `wav`, `pcm` (raw
  s16le mono at the rate in the `X-Sample-Rate` header). A streamed WAV cannot know its length
  when its header leaves, so its RIFF and data sizes hold 0xFFFFFFFF ("read to the end").
- `speed` must be within 0.5..2.0 (400 otherwise): OpenAI allows 0.25..4.0, but our engines
  turn faster or slower speech into noise, and silently clamping would lie to the caller.
- `input`: at most 4096 characters, made speakable for pt-BR first (R$ amounts, CPF, dates).
- Headers: `X-Sample-Rate` (of the audio sent), `X-Cache: hit|miss` (the audio cache keeps
  PCM, so one prompt is a hit in any format once said in one).

Every fault of the request is reported before the first byte. A worker crash in the middle of
a stream aborts the body (the status line has left already): the client sees a truncated
transfer, never a short file passed off as whole.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Final

import anyio
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from mediaserver.api.context import runtime_of
from mediaserver.api.errors import ApiError
from mediaserver.engines.errors import EngineError
from mediaserver.engines.tts.base import UnknownVoiceError, check_speed
from mediaserver.engines.tts.service import (
    MAX_INPUT_CHARS,
    EmptyTextError,
    TtsStream,
)
from mediaserver.formats.audio import (
    MEDIA_TYPES,
    AudioEncoder,
    AudioFormat,
    AvEncoder,
    create_encoder,
    parse_format,
)

log = structlog.get_logger("mediaserver.api.speech")

MAX_BODY_BYTES: Final = 64 * 1024  # 4096 characters of UTF-8 and the other fields, with room
DEFAULT_FORMAT: Final[AudioFormat] = "mp3"
_FIELDS: Final = frozenset({"model", "input", "voice", "response_format", "speed"})


def _bad(message: str, param: str | None = None, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, param=param)


async def _json_body(request: Request) -> dict[str, Any]:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise ApiError(415, "unsupported_media_type", "send the request as application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "body_too_large", f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _bad("body must be a JSON object")
    return data


def _optional_string(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{name} must be a string", name)
    return value or None


def _input(data: dict[str, Any]) -> str:
    text = data.get("input")
    if not isinstance(text, str):
        raise _bad("input is required: the text to say, as a string", "input")
    if not text.strip():
        raise _bad("input is empty: there is nothing to say", "input")
    if len(text) > MAX_INPUT_CHARS:
        raise _bad(f"input is {len(text)} characters long; the limit is {MAX_INPUT_CHARS}", "input")
    return text


def _speed(data: dict[str, Any]) -> float:
    value = data.get("speed", 1.0)
    try:
        return check_speed(value)
    except ValueError as exc:
        raise _bad(str(exc), "speed") from None


def _format(data: dict[str, Any]) -> AudioFormat:
    try:
        return parse_format(data.get("response_format") or DEFAULT_FORMAT)
    except ValueError as exc:
        raise _bad(str(exc), "response_format") from None


async def create_speech(request: Request) -> Response:
    tts = runtime_of(request).tts
    data = await _json_body(request)
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise _bad(f"unknown fields: {', '.join(unknown)}", unknown[0])
    text, speed, fmt = _input(data), _speed(data), _format(data)
    model, voice = _optional_string(data, "model"), _optional_string(data, "voice")
    try:
        stream = await tts.open(text, model=model, voice=voice, speed=speed)
    except UnknownVoiceError as exc:
        raise _bad(f"{exc} (list them with GET /v1/voices)", "voice", "invalid_voice") from None
    except EmptyTextError as exc:
        raise _bad(str(exc), "input") from None
    encoder = create_encoder(fmt, stream.sample_rate)
    headers = {"X-Sample-Rate": str(encoder.sample_rate), "X-Cache": _cache(stream)}
    return StreamingResponse(_body(stream, encoder), media_type=MEDIA_TYPES[fmt], headers=headers)


def _cache(stream: TtsStream) -> str:
    return "hit" if stream.cached else "miss"


async def _body(stream: TtsStream, encoder: AudioEncoder) -> AsyncIterator[bytes]:
    # Compressed encoders take milliseconds per clause: off the loop, which also paces calls.
    threaded = isinstance(encoder, AvEncoder)
    try:
        async for pcm in stream:
            data = await asyncio.to_thread(encoder.encode, pcm) if threaded else encoder.encode(pcm)
            if data:
                yield data
        tail = await asyncio.to_thread(encoder.finish) if threaded else encoder.finish()
        if tail:
            yield tail
    except EngineError as exc:
        # Raised on, so the server aborts the body instead of ending it as if it were whole.
        log.warning("tts.stream_broken", model=stream.model, error=type(exc).__name__)
        raise
    finally:
        # Shielded: after a client disconnect the scope is cancelled, and an unclosed stream
        # would hold its worker slot (and keep the worker synthesizing) until collected.
        with anyio.CancelScope(shield=True):
            await stream.aclose()


async def list_voices(request: Request) -> Response:
    """Voices of the installed TTS models: `?model=NAME` for one model's."""
    tts = runtime_of(request).tts
    voices = await tts.voices(request.query_params.get("model") or None)
    data = [
        {
            "object": "voice",
            "model": v.model,
            "id": v.voice.id,
            "language": v.voice.language,
            # null where the engine does not know (espeak-ng's voices), never a guess
            "gender": None if v.voice.gender == "unknown" else v.voice.gender,
        }
        for v in voices
    ]
    return JSONResponse({"object": "list", "data": data})


routes = [
    Route("/v1/audio/speech", create_speech, methods=["POST"]),
    Route("/v1/voices", list_voices, methods=["GET"]),
]
