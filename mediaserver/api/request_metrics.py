"""`mediaserver_http_requests_total{route, status}`: every HTTP response, counted once.

A pure ASGI middleware, outermost, so that refusals (401 from the key check) count too. The
`route` label is the matched route's template (`/v1/calls/{call_id}`), never the raw path, so
ids in URLs cannot grow the series without bound. A request no route handled is `unmatched`:
an unknown path, or one refused before routing (401 from the key check).
WebSocket sessions are not HTTP requests here (their transports count their own).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediaserver.observability import Metrics

UNMATCHED = "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self._counter = metrics.http_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]  # what the client gets if the app fails before answering

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router records the route it matched in the (shared) scope.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self._counter.labels(route=route, status=str(status[0])).inc()
