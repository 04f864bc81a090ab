"""The demo page: GET / (a WebRTC call from the browser's microphone) and its script.

Plain HTML and JavaScript shipped inside the package; no build step. The page picks the model
and language from GET /v1/models, takes an API key in a field (sent as a header), and shows
errors in red. `/?autostart=1` starts the call as soon as the page loads (kiosk mode; the
end-to-end tests drive it that way); `model`, `language` and `codec` preselect the call's.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route


@cache
def _asset(name: str) -> str:
    return resources.files("mediaserver").joinpath("static", name).read_text(encoding="utf-8")


# The page needs no third-party origin; a strict policy keeps it that way.
_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
}


async def index(request: Request) -> Response:
    return HTMLResponse(_asset("index.html"), headers=_HEADERS)


async def script(request: Request) -> Response:
    return Response(_asset("app.js"), media_type="text/javascript", headers=_HEADERS)


routes = [
    Route("/", index, methods=["GET"]),
    Route("/static/app.js", script, methods=["GET"]),
]
