"""GET /openapi.json (the API's OpenAPI description) and GET /docs (the same, as a page).

The page is rendered here, on the server, as plain HTML: no script and no third-party origin
(the usual Swagger UI comes from a CDN, which an offline machine cannot reach). Both are public:
they describe the API and hold no data.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mediaserver.api.openapi_spec import openapi

_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
_METHODS = ("get", "post", "put", "patch", "delete")
_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
h2 { border-bottom: 1px solid #ddd; margin-top: 2.5rem; }
section { margin: 1rem 0 1.5rem; }
.method { display: inline-block; min-width: 4.5rem; font: bold 13px monospace; color: #fff;
          padding: 2px 6px; border-radius: 3px; text-align: center; }
.get { background: #2f6f9f; } .post { background: #3a8a3a; } .delete { background: #a33; }
.ws { background: #7a4fa0; }
code, pre { background: #f4f4f4; padding: 1px 4px; border-radius: 3px; }
pre { padding: .6rem; overflow-x: auto; }
table { border-collapse: collapse; margin: .4rem 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
"""


@cache
def _spec() -> dict[str, Any]:
    return openapi()


def render(spec: dict[str, Any]) -> str:
    info = spec["info"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(info['title'])} API</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} API <small>{escape(info['version'])}</small></h1>",
        f"<p>{_text(info['description'])}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>",
    ]
    for tag in (t["name"] for t in spec["tags"]):
        operations = [
            (path, method, op)
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if method in _METHODS and tag in op.get("tags", ())
        ]
        if not operations:
            continue
        parts.append(f"<h2>{escape(tag)}</h2>")
        parts.extend(_operation(path, method, op) for path, method, op in operations)
    parts.append("</body></html>")
    return "\n".join(parts)


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    websocket = op.get("x-websocket", False)
    label, css = ("WS", "ws") if websocket else (method.upper(), method)
    out = [
        f"<section><span class='method {css}'>{label}</span> <code>{escape(path)}</code>",
        f" — {escape(op['summary'])}",
    ]
    if op.get("description"):
        out.append(f"<p>{_text(op['description'])}</p>")
    if op.get("parameters"):
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{_text(p.get('description', ''))}</td></tr>"
            for p in op["parameters"]
        )
        out.append(f"<table><tr><th>parameter</th><th>in</th><th></th></tr>{rows}</table>")
    for media, content in op.get("requestBody", {}).get("content", {}).items():
        schema = content.get("schema", {})
        required = set(schema.get("required", ()))
        rows = "".join(
            f"<tr><td><code>{escape(name)}</code>{' (required)' if name in required else ''}"
            f"</td><td>{_text(prop.get('description', ''))}</td></tr>"
            for name, prop in schema.get("properties", {}).items()
        )
        out.append(f"<p>Body: <code>{escape(media)}</code></p><table>{rows}</table>")
        if "example" in content:
            out.append(f"<pre>{escape(json.dumps(content['example'], ensure_ascii=False))}</pre>")
    answers = ", ".join(
        f"{escape(code)} {_text(r.get('description', ''))}" for code, r in op["responses"].items()
    )
    out.append(f"<p>Answers: {answers}</p></section>")
    return "".join(out)


def _text(text: str) -> str:
    """Escaped, with the descriptions' `code` spans kept as code."""
    pieces = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


async def openapi_json(request: Request) -> Response:
    return JSONResponse(_spec())


async def docs(request: Request) -> Response:
    return HTMLResponse(render(_spec()), headers=_HEADERS)


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]
