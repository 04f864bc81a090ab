"""POST /v1/webrtc/offer: a browser's SDP offer in, the answer and the new call's id out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediaserver.api.context import runtime_of
from mediaserver.api.errors import ApiError
from mediaserver.api.json_body import read_json_object
from mediaserver.calls.manager import CallRefused
from mediaserver.transports.webrtc import SdpError


async def offer(request: Request) -> Response:
    options = await read_json_object(request)
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
