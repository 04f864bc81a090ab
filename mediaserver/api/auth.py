"""API-key authentication for every HTTP and WebSocket route: a pure ASGI middleware.

Where a client may put its key (``MEDIASERVER_API_KEYS`` lists the valid ones):

- REST and WebSocket: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.
- WebSocket only, because browsers cannot set headers on ``new WebSocket(...)``:
  a subprotocol ``api-key.KEY`` offered next to the real one
  (``new WebSocket(url, ["mediaserver", "api-key." + key])``; the handshake then answers
  ``mediaserver``, as browsers need one of their offers chosen), or ``?api_key=KEY`` in the URL.
- Never in a REST URL: a request with ``api_key`` in its query string is refused even if it
  also carries a valid header, so a client leaking its key into access logs finds out at once.

Public paths (no key needed): the probes ``/health`` and ``/ready`` (a load balancer or a
Kubernetes probe has no key), the API description ``/docs`` and ``/openapi.json``, the demo page
``/`` and ``/static/...``. None of them holds data; every API the page calls needs the key. The
page takes the key from a field or its URL fragment (``/#key=...``), never sent to the server.
A public route may show more to a client that does present a valid key (``/ready`` lists the
installed models then): ``request.state.authenticated`` says whether it did (always true when no
keys are configured).

The key is compared in constant time against every configured key (no early exit), on SHA-256
digests so that key lengths do not leak either. Before a WebSocket request reaches its route the
key is removed from the scope (header, subprotocol, query), so route code cannot log it. An
auth failure is logged as a static message with the client address only.

With no keys configured the middleware lets everything through; ``mediaserver serve`` refuses to
listen on a non-loopback address in that case unless ``--insecure`` is given.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediaserver.api.errors import ApiError

log = structlog.get_logger("mediaserver.auth")

PUBLIC_PATHS = frozenset({"/health", "/ready", "/docs", "/openapi.json", "/"})
PUBLIC_PREFIXES = ("/static/",)
QUERY_PARAM = "api_key"
SUBPROTOCOL_PREFIX = "api-key."
# RFC 6455 close code "policy violation": the denial sent when the server cannot answer 401.
WS_POLICY_VIOLATION = 1008

# Set in the task that served a WebSocket we refused (see UvicornLogFilter).
_denied_websocket: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mediaserver_denied_websocket", default=False
)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class ApiKeyMiddleware:
    """Refuses any request to a non-public path that does not present one of `keys`."""

    def __init__(self, app: ASGIApp, keys: Iterable[str]) -> None:
        self.app = app
        self._digests = tuple(_digest(key) for key in keys if key)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def accepts(self, candidate: str) -> bool:
        """Constant time in the candidate and in which key matches: every key is compared."""
        digest = _digest(candidate)
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(known, digest)
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not self.enabled or is_public(scope["path"]):
            key = _header_key(scope) if self.enabled else None
            authenticated = not self.enabled or (key is not None and self.accepts(key))
            scope.setdefault("state", {})["authenticated"] = authenticated
            await self.app(scope, receive, send)
            return
        if kind == "http":
            await self._http(scope, receive, send)
        else:
            await self._websocket(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _query_has_key(scope):
            _log_rejection(scope, "key_in_url")
            error = ApiError(
                401,
                "api_key_in_url",
                "API keys are not accepted in URLs; send 'Authorization: Bearer KEY' "
                "or 'X-API-Key: KEY' (and rotate the key that was sent)",
            )
            await _send_error(send, error, "http.response")
            return
        key = _header_key(scope)
        if key is not None and self.accepts(key):
            await self.app(scope, receive, send)
            return
        _log_rejection(scope, "missing_key" if key is None else "invalid_key")
        await _send_error(send, _unauthorized(key), "http.response")

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        key, via_subprotocol = _websocket_key(scope)
        if key is not None and self.accepts(key):
            clean = _without_key(scope)
            if via_subprotocol:
                send = _choosing_subprotocol(send, clean.get("subprotocols", []))
            await self.app(clean, receive, send)
            return
        _log_rejection(scope, "missing_key" if key is None else "invalid_key")
        _denied_websocket.set(True)
        if "websocket.http.response" in scope.get("extensions", {}):
            await _send_error(send, _unauthorized(key), "websocket.http.response")
        else:
            # The server turns a close before accept into an HTTP 403.
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": ""})


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def _unauthorized(key: str | None) -> ApiError:
    message = "missing API key" if key is None else "invalid API key"
    return ApiError(401, "invalid_api_key", message, headers={"www-authenticate": "Bearer"})


def _header_key(scope: Scope) -> str | None:
    bearer: str | None = None
    api_key: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
        elif name == b"x-api-key" and value.strip():
            api_key = value.decode("latin-1").strip()
    return bearer if bearer is not None else api_key


def _websocket_key(scope: Scope) -> tuple[str | None, bool]:
    """The key offered on a WebSocket upgrade and whether it came as a subprotocol."""
    key = _header_key(scope)
    if key is not None:
        return key, False
    for protocol in scope.get("subprotocols", []):
        if protocol.startswith(SUBPROTOCOL_PREFIX) and len(protocol) > len(SUBPROTOCOL_PREFIX):
            return protocol[len(SUBPROTOCOL_PREFIX) :], True
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if name == QUERY_PARAM and value:
            return value, False
    return None, False


def _query_has_key(scope: Scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    return any(name == QUERY_PARAM for name, _ in parse_qsl(query, keep_blank_values=True))


def _without_key(scope: Scope) -> Scope:
    """A copy of a WebSocket scope with every trace of the key removed."""
    clean = dict(scope)
    stripped = (b"authorization", b"x-api-key", b"sec-websocket-protocol")
    clean["headers"] = [(name, value) for name, value in scope["headers"] if name not in stripped]
    protocols = [p for p in scope.get("subprotocols", []) if not p.startswith(SUBPROTOCOL_PREFIX)]
    clean["subprotocols"] = protocols
    if protocols:
        clean["headers"].append((b"sec-websocket-protocol", ", ".join(protocols).encode()))
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    clean["query_string"] = urlencode([(k, v) for k, v in query if k != QUERY_PARAM]).encode()
    return clean


def _choosing_subprotocol(send: Send, offered: list[str]) -> Send:
    """Browsers fail a handshake that offered subprotocols and got none back: answer the first
    real one the client offered when the route accepted without choosing."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "websocket.accept" and message.get("subprotocol") is None and offered:
            message = {**message, "subprotocol": offered[0]}
        await send(message)

    return wrapped


def _log_rejection(scope: Scope, reason: str) -> None:
    client = scope.get("client")
    log.warning(
        "auth.rejected",
        reason=reason,
        transport=scope["type"],
        client=client[0] if client else None,
    )


async def _send_error(send: Send, error: ApiError, prefix: str) -> None:
    body = json.dumps(error.body()).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    for name, value in (error.headers or {}).items():
        headers.append((name.encode("latin-1"), value.encode("latin-1")))
    await send({"type": f"{prefix}.start", "status": error.status, "headers": headers})
    await send({"type": f"{prefix}.body", "body": body})


_KEY_IN_QUERY = re.compile(rf"(\b{QUERY_PARAM}=)[^&\s\"']*", re.IGNORECASE)
_UVICORN_DENIAL_NOISE = "ASGI callable returned without completing handshake."


class UvicornLogFilter(logging.Filter):
    """Keeps keys out of uvicorn's own log lines, which print WebSocket URLs with their query.

    It also drops the error uvicorn's websockets-sansio protocol logs after every correct
    ``websocket.http.response`` denial (uvicorn PR #3138), but only for connections this
    middleware refused, so a route that really forgets its handshake is still reported.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _UVICORN_DENIAL_NOISE and _denied_websocket.get():
            return False
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact(text: str) -> str:
    return _KEY_IN_QUERY.sub(r"\1***", text)


def install_log_filters() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, UvicornLogFilter) for f in logger.filters):
            logger.addFilter(UvicornLogFilter())
