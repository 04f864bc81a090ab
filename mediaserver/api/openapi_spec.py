"""The OpenAPI 3.1 description of the HTTP and WebSocket API (served as /openapi.json).

Written by hand from the public contract (DESIGN.md, the route modules' docstrings): the routes
are small functions without schemas to generate it from. A test checks that every route of the
app is described here and nothing else, so the two cannot drift apart. WebSocket endpoints are
described as a GET with a `101` answer and `x-websocket: true`.
"""

from __future__ import annotations

from typing import Any

from mediaserver import __version__
from mediaserver.api.openapi_jobs import JOBS_PATHS

Json = dict[str, Any]

_ERROR = {
    "description": 'an error: `{"error": {"message", "type", "code", "param"}}`',
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _json(description: str, example: Any = None) -> Json:
    content: Json = {"schema": {"type": "object"}}
    if example is not None:
        content["example"] = example
    return {"description": description, "content": {"application/json": content}}


def _param(name: str, where: str, description: str, *, required: bool = False) -> Json:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": {"type": "string"},
    }


def _fields(required: list[str], **fields: str) -> Json:
    """An object schema whose properties are described in words (types are in the words)."""
    return {
        "type": "object",
        "required": required,
        "properties": {name: {"description": text} for name, text in fields.items()},
    }


def _op(tag: str, summary: str, description: str = "", **extra: Any) -> Json:
    responses = extra.pop("responses", {"200": _json("OK")})
    return {
        "tags": [tag],
        "summary": summary,
        "description": description,
        **extra,
        "responses": {**responses, "4XX": _ERROR},
    }


CALL_ID = _param("call_id", "path", "the call's id (POST /v1/calls `id`, or the AudioSocket UUID)")

_TRANSCRIPTION_FORM = _fields(
    ["file"],
    file="the audio file (WAV, MP3, OGG/Opus, FLAC, M4A...)",
    model="an installed STT model (default: `models.default_stt`)",
    language="language code, e.g. `pt` (default: detect); transcriptions only",
    prompt="context for the decoder (names, spelling)",
    response_format="`json` (default), `text`, `srt`, `vtt` or `verbose_json`",
    temperature="sampling temperature, 0 to 1",
    **{"timestamp_granularities[]": "`segment` and/or `word` (with verbose_json)"},
    hot_words="extension: comma-separated words to prefer (`PIX,Nubank`)",
    itn="extension: spoken numbers as digits (true/false)",
    entities="extension: format CPF, CNPJ, PIX keys, R$ amounts (true/false)",
    redact="extension: mask CPF/CNPJ/phone/card digits (true/false)",
    channel="extension: `mix` (default), `all` (each channel on its own) or an index",
)


def _transcription(task: str, summary: str) -> Json:
    return _op(
        "Files",
        summary,
        f"OpenAI-compatible {task}. The answer's type follows `response_format`.",
        requestBody={
            "required": True,
            "content": {"multipart/form-data": {"schema": _TRANSCRIPTION_FORM}},
        },
        responses={"200": _json("the transcript", {"text": "meu CPF é 987.654.321-00"})},
    )


PATHS: Json = {
    "/v1/audio/transcriptions": {"post": _transcription("transcription", "Transcribe a file")},
    "/v1/audio/translations": {
        "post": _transcription("translation (to English)", "Translate a file's speech")
    },
    "/v1/audio/speech": {
        "post": _op(
            "Speech",
            "Synthesize speech (streamed)",
            "OpenAI-compatible. The audio starts as the first clause is synthesized. "
            "Headers: `X-Sample-Rate`, `X-Cache: hit|miss`.",
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _fields(
                            ["input"],
                            input="the text, at most 4096 characters (read the pt-BR way)",
                            model="an installed TTS model (default: `models.default_tts`)",
                            voice="one of the model's voices (GET /v1/voices)",
                            response_format="`mp3` (default), `wav`, `pcm`, `opus`, `flac`",
                            speed="0.5 to 2.0 (default 1.0)",
                        ),
                        "example": {"input": "Seu saldo é R$ 1.234,56.", "voice": "pt-br"},
                    }
                },
            },
            responses={"200": {"description": "the audio, in the format asked for"}},
        )
    },
    "/v1/voices": {
        "get": _op(
            "Speech",
            "List the voices of the installed TTS models",
            "`gender` is null where the engine does not know it (espeak-ng).",
            parameters=[_param("model", "query", "only this model's voices")],
            responses={
                "200": _json(
                    "the voices",
                    {
                        "object": "list",
                        "data": [
                            {
                                "object": "voice",
                                "model": "espeak-ng",
                                "id": "pt-br",
                                "language": "pt-BR",
                                "gender": None,
                            }
                        ],
                    },
                )
            },
        )
    },
    "/v1/models": {
        "get": _op(
            "Models",
            "List the installed models",
            "`?loaded=true`: only the models with a worker process now (`mediaserver ps`).",
            parameters=[_param("loaded", "query", "true: loaded models only")],
        )
    },
    "/v1/calls": {
        "get": _op("Calls", "List the live calls"),
        "post": _op(
            "Calls",
            "Create a call that receives RTP",
            "Allocates a UDP port; the PBX sends the call's RTP there. A model that is not "
            "installed is refused: 404 `model_not_found`, naming `mediaserver pull NAME`.",
            requestBody={
                "content": {
                    "application/json": {
                        "schema": _fields(
                            [],
                            codec="`PCMU` (default), `PCMA` or `L16`",
                            sample_rate="L16 only: the rate of the audio",
                            model="STT model (default: `models.default_stt`); null: no STT",
                            language="language code (default: `[session] language`)",
                            hot_words="words to prefer",
                            vad="VAD options (`sensitivity`...)",
                            source="`ip[:port]`: only this source may latch",
                            barge_in="true: caller speech cancels the call's own speech",
                        ),
                        "example": {"codec": "PCMU", "model": "faster-whisper-small"},
                    }
                }
            },
            responses={
                "201": _json(
                    "the call",
                    {
                        "id": "…",
                        "rtp": {"host": "127.0.0.1", "port": 40000},
                        "events_url": "/v1/calls/…/events",
                    },
                )
            },
        ),
    },
    "/v1/calls/{call_id}": {
        "get": _op("Calls", "A call's state and counters", parameters=[CALL_ID]),
        "delete": _op(
            "Calls",
            "Hang up a call",
            "Final transcripts are flushed, then `session.closed` is sent to subscribers.",
            parameters=[CALL_ID],
        ),
    },
    "/v1/calls/{call_id}/events": {
        "get": _op(
            "Calls",
            "WebSocket: the call's events",
            "JSON text messages, `type` first: `session.created`, `vad.speech_start`, "
            "`transcript.partial`, `transcript.final`, `vad.speech_end`, `session.state`, "
            "`session.hold`, `dtmf`, `tts.speaking_start`, `tts.speaking_end`, `error`, "
            "`session.closed`. From a terminal: `mediaserver events CALL_ID`.",
            parameters=[CALL_ID],
            responses={"101": {"description": "switching to the WebSocket protocol"}},
            **{"x-websocket": True},
        )
    },
    "/v1/calls/{call_id}/speak": {
        "post": _op(
            "Calls",
            "Speak into a live call",
            "Queued in order; answers at once with the utterance's id.",
            parameters=[CALL_ID],
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _fields(
                            ["text"], text="what to say", voice="a voice", speed="0.5 to 2.0"
                        )
                    }
                },
            },
            responses={"202": _json("queued", {"id": "utt_…", "queued": 1})},
        )
    },
    "/v1/calls/{call_id}/speak/cancel": {
        "post": _op(
            "Calls",
            "Stop the call's speech and clear its queue",
            parameters=[CALL_ID],
            responses={"200": _json("cancelled", {"cancelled": 1})},
        )
    },
    "/v1/webrtc/offer": {
        "post": _op(
            "Calls",
            "Start a WebRTC call",
            "A browser's SDP offer (plus call options) in, the SDP answer and the call id out. "
            "Events also flow on the `events` data channel. A model that is not installed is "
            "refused: 404 `model_not_found`.",
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _fields(
                            ["sdp", "type"],
                            sdp="the offer",
                            type="`offer`",
                            model="STT model (default: `models.default_stt`); null: no STT",
                            language="language code (default: `[session] language`)",
                        )
                    }
                },
            },
        )
    },
    "/v1/realtime": {
        "get": _op(
            "Streaming",
            "WebSocket: stream PCM16 audio in, get events out",
            "Binary PCM16 mono frames in; JSON `session.configure`, `input_audio_buffer.commit`, "
            "`session.close`, `session.cancel`, `tts.speak`, `tts.cancel`. Query: `model`, "
            "`language`, `sample_rate`.",
            parameters=[
                _param("model", "query", "STT model"),
                _param("language", "query", "language code"),
                _param("sample_rate", "query", "rate of the PCM16 frames sent (default 16000)"),
            ],
            responses={"101": {"description": "switching to the WebSocket protocol"}},
            **{"x-websocket": True},
        )
    },
    "/health": {
        "get": _op(
            "Operations",
            "Liveness (no key needed)",
            security=[],
            responses={"200": _json("alive", {"status": "ok"})},
        )
    },
    "/ready": {
        "get": _op(
            "Operations",
            "Readiness (no key needed)",
            "503 while draining. With a valid key (or none configured) the answer also names "
            "the installed models and any missing default, with the command that installs it.",
            security=[],
            responses={
                "200": _json("ready", {"status": "ready"}),
                "503": _json("draining", {"status": "draining"}),
            },
        )
    },
    "/metrics": {
        "get": _op(
            "Operations",
            "Prometheus metrics",
            responses={"200": {"description": "text exposition format"}},
        )
    },
    "/docs": {
        "get": _op(
            "Operations",
            "This description, as a page",
            security=[],
            responses={"200": {"description": "HTML"}},
        )
    },
    "/openapi.json": {"get": _op("Operations", "This description, as OpenAPI 3.1", security=[])},
    "/": {
        "get": _op(
            "Demo",
            "The demo page (a WebRTC call from the microphone)",
            security=[],
            responses={"200": {"description": "HTML"}},
        )
    },
    "/static/app.js": {
        "get": _op(
            "Demo",
            "The demo page's script",
            security=[],
            responses={"200": {"description": "JavaScript"}},
        )
    },
}

TAGS = ["Files", "Jobs", "Speech", "Calls", "Streaming", "Models", "Operations", "Demo"]


def openapi() -> Json:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mediaserver",
            "version": __version__,
            "description": "Realtime voice media server for telephony. With API keys configured, "
            "send one as `Authorization: Bearer KEY` or `X-API-Key: KEY` (WebSockets also take "
            "the subprotocol `api-key.KEY`).",
        },
        "tags": [{"name": t} for t in TAGS],
        "paths": {**PATHS, **JOBS_PATHS},
        "components": {
            "schemas": {
                "Error": _fields(
                    ["error"],
                    error="`{message, type, code, param}`: what went wrong and whose fault it is",
                )
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }
