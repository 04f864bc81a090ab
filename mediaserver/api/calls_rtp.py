"""POST /v1/calls: create a call that receives RTP on a port of its own.

Body: the call options (`model`, `language`, `hot_words`, `vad`, `timeouts`, ...) plus the media
keys read by the RTP transport (`codec`, `sample_rate`, `payload_type`, `dtmf_payload_type`,
`media_timeout_s`, `allowed_sources`, and `source`: "ip" or "ip:port", the only address whose
RTP the call accepts; see `transports/rtp/latch.py`).
Answer: `201 {"id", "rtp": {"host", "port"}, "events_url"}`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediaserver.api.context import runtime_of
from mediaserver.api.errors import ApiError
from mediaserver.api.json_body import read_json_object
from mediaserver.calls.manager import CallRefused
from mediaserver.transports.rtp.ports import PortsExhausted


async def create_call(request: Request) -> Response:
    transport = runtime_of(request).rtp
    if transport is None:
        raise ApiError(503, "rtp_disabled", "RTP calls are disabled on this server")
    body = await read_json_object(request, empty_is_object=True)
    try:
        client = request.client
        opened = await transport.open_call(body, client_host=client.host if client else None)
    except CallRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, param=exc.param) from None
    except PortsExhausted as exc:
        raise ApiError(503, "rtp_ports_exhausted", str(exc)) from None
    except ValueError as exc:
        param = getattr(exc, "param", None)
        raise ApiError(400, "invalid_request", str(exc), param=param) from None
    call = opened.call
    return JSONResponse(
        {
            "id": call.id,
            "rtp": {"host": opened.host, "port": opened.port},
            "events_url": call.events_url,
        },
        status_code=201,
    )


routes = [Route("/v1/calls", create_call, methods=["POST"])]
