"""Make a live call speak.

    POST /v1/calls/{id}/speak         {"text", "voice"?, "speed"?} -> 202 {"id", "queued"}
    POST /v1/calls/{id}/speak/cancel  -> 200 {"cancelled": n}

`speak` queues the utterance behind any the call is already saying and answers at once; its
progress comes as `tts.speaking_start` / `tts.speaking_end` events (with the utterance id).
404 for an unknown call, 400 for empty or bad text, 409 when the call has no way to play audio
(an RTP call before its first packet has latched the peer's address).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediaserver.api.context import call_of
from mediaserver.api.errors import ApiError
from mediaserver.api.json_body import read_json_object
from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.speaker import SpeakError


def _no_audio(exc: NoAudioPath) -> ApiError:
    return ApiError(409, "no_audio_path", str(exc))


async def speak(request: Request) -> Response:
    call = call_of(request)
    body = await read_json_object(request, empty_is_object=True)
    text, voice, speed = body.get("text"), body.get("voice"), body.get("speed", 1.0)
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "invalid_text", "'text' must be a non-empty string", param="text")
    if voice is not None and not isinstance(voice, str):
        raise ApiError(400, "invalid_voice", "'voice' must be a string", param="voice")
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ApiError(400, "invalid_speed", "'speed' must be a number", param="speed")
    try:
        queued = call.speaker.speak(text, voice or None, float(speed))
    except SpeakError as exc:
        raise ApiError(400, "invalid_speak", str(exc)) from None
    except NoAudioPath as exc:
        raise _no_audio(exc) from None
    return JSONResponse({"id": queued.id, "queued": queued.queued}, status_code=202)


async def cancel(request: Request) -> Response:
    call = call_of(request)
    try:
        cancelled = call.speaker.cancel()
    except NoAudioPath:
        cancelled = 0  # a call that cannot speak has nothing to cancel
    return JSONResponse({"cancelled": cancelled})


routes = [
    Route("/v1/calls/{call_id}/speak", speak, methods=["POST"]),
    Route("/v1/calls/{call_id}/speak/cancel", cancel, methods=["POST"]),
]
