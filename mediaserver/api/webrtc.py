"""POST /v1/webrtc/offer: a browser's SDP offer in, the answer and the new call's id out."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediaserver.api.context import runtime_of
from mediaserver.api.errors import ApiError
from mediaserver.calls.manager import CallRefused
from mediaserver.transports.webrtc import SdpError

# An SDP offer from a browser is a few kB; the rest of the body is call options.
MAX_OFFER_BYTES = 64 * 1024


async def _read_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_OFFER_BYTES:
        raise ApiError(413, "payload_too_large", f"offer body exceeds {MAX_OFFER_BYTES} bytes")
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"body is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return value


async def offer(request: Request) -> Response:
    options = await _read_object(request)
    sdp = options.pop("sdp", None)
    sdp_type = options.pop("type", None)
    if not isinstance(sdp, str) or not sdp:
        raise ApiError(400, "invalid_sdp", "'sdp' must be a non-empty string", param="sdp")
    if not isinstance(sdp_type, str):
        raise ApiError(400, "invalid_sdp", "'type' must be the string 'offer'", param="type")
    runtime = runtime_of(request)
    gateway = runtime.webrtc
    try:
        answer = await gateway.answer(runtime.calls, sdp, sdp_type, options)
    except SdpError as exc:
        raise ApiError(400, "invalid_sdp", str(exc), param="sdp") from exc
    except ValueError as exc:
        raise ApiError(400, "invalid_call_options", str(exc)) from exc
    except CallRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, param=exc.param) from exc
    return JSONResponse(answer.to_json(), status_code=201)


routes = [Route("/v1/webrtc/offer", offer, methods=["POST"])]
