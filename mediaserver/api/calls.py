"""Calls of every transport: list, inspect, hang up, and watch their events.

    GET    /v1/calls                 {"object": "list", "data": [{id, transport, state, ...}]}
    GET    /v1/calls/{id}            + codec, remote, stats {packets_received, ...}
    DELETE /v1/calls/{id}            final flush, then `session.closed`; answers once closed
    WS     /v1/calls/{id}/events     the call's events as JSON text messages, `type` first

(`POST /v1/calls`, which creates an RTP call, lives with the RTP transport.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from mediaserver.api.context import call_of, runtime_of
from mediaserver.api.errors import ApiError
from mediaserver.calls.manager import CallRefused, Subscription
from mediaserver.session.call_options import CallOptionsError

# WebSocket close code for an unknown call (4000-4999 are the application's).
WS_CALL_NOT_FOUND = 4404


def api_error(exc: CallOptionsError | CallRefused) -> ApiError:
    """What a route that creates calls answers when `CallManager.create` says no:
    400 naming the bad option, or the refusal's own status (409, 503)."""
    if isinstance(exc, CallOptionsError):
        return ApiError(400, "invalid_call_options", str(exc), param=exc.param or None)
    headers = {"Retry-After": "5"} if exc.status == 503 else None
    return ApiError(exc.status, exc.code, exc.message, param=exc.param, headers=headers)




async def list_calls(request: Request) -> Response:
    manager = runtime_of(request).calls
    return JSONResponse({"object": "list", "data": [c.info() for c in manager.calls()]})


async def get_call(request: Request) -> Response:
    return JSONResponse(call_of(request).info(detail=True))


async def delete_call(request: Request) -> Response:
    call = call_of(request)
    await call.close("requested")
    return JSONResponse({"id": call.id, "object": "call", "deleted": True, "state": call.state})


async def call_events(websocket: WebSocket) -> None:
    manager = runtime_of(websocket).calls
    try:
        call = manager.get(websocket.path_params["call_id"])
    except KeyError:
        await websocket.close(WS_CALL_NOT_FOUND, "no active call with that id")
        return
    subscription = call.subscribe()
    await websocket.accept()
    sender = asyncio.create_task(_send_events(websocket, subscription))
    receiver = asyncio.create_task(_until_disconnect(websocket))
    try:
        await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_COMPLETED)
    finally:
        subscription.close()
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if sender.done() and not sender.cancelled() and sender.exception() is None:
        with contextlib.suppress(Exception):  # the client may be gone already
            await websocket.close(1000)


async def _send_events(websocket: WebSocket, subscription: Subscription) -> None:
    async for item in subscription:
        await websocket.send_text(json.dumps(item, ensure_ascii=False))


async def _until_disconnect(websocket: WebSocket) -> None:
    """Messages from the client are not part of this protocol: read and ignore them."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


routes = [
    Route("/v1/calls", list_calls, methods=["GET"]),
    Route("/v1/calls/{call_id}", get_call, methods=["GET"]),
    Route("/v1/calls/{call_id}", delete_call, methods=["DELETE"]),
    WebSocketRoute("/v1/calls/{call_id}/events", call_events),
]
