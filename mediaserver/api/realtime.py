"""`WS /v1/realtime?model=...`: the realtime speech protocol over one WebSocket."""

from __future__ import annotations

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from mediaserver.api.context import runtime_of
from mediaserver.transports import realtime_protocol as proto
from mediaserver.transports.websocket import CLOSE_POLICY, RealtimeSession


async def realtime(websocket: WebSocket) -> None:
    runtime = runtime_of(websocket)
    settings = runtime.settings
    await websocket.accept()
    try:
        sample_rate, options = proto.options_from_query(websocket.query_params)
    except proto.ProtocolError as exc:
        error = {"code": exc.code, "message": exc.message, "recoverable": False}
        await websocket.send_json({"type": "error", "call_id": "", **error, "param": exc.param})
        await websocket.close(CLOSE_POLICY)
        return
    session = RealtimeSession(
        websocket,
        runtime.calls,
        settings.websocket,
        runtime.metrics,
        sample_rate=sample_rate,
        options=options,
        validate=runtime.calls.check_options,
    )
    await session.run()


routes: list[BaseRoute] = [WebSocketRoute("/v1/realtime", realtime)]
