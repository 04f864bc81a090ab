"""`mediaserver events CALL_ID`: print a live call's events, one JSON object per line.

The same stream as `WS /v1/calls/{id}/events` (what a browser or an app subscribes to), for a
person at a terminal or a script (`| jq`). It ends when the call closes (`session.closed`, then
the server closes the socket) or on Ctrl+C.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any, Final
from urllib.parse import quote

from mediaserver.commands.server_url import add_url_option, auth_headers, base_url, websocket_url
from mediaserver.config import Settings

OK: Final = 0
FAILED: Final = 1
USAGE: Final = 2
# The server's close code for an unknown call (mediaserver.api.calls.WS_CALL_NOT_FOUND).
CALL_NOT_FOUND: Final = 4404
OPEN_TIMEOUT_S: Final = 5.0


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "events",
        help="print a live call's events (JSON lines) until it closes",
        description="Print the events of a live call of the running server, one JSON object "
        "per line, until the call closes. CALL_ID is the `id` that POST /v1/calls answered "
        "(or the AudioSocket UUID); GET /v1/calls lists the live ones.",
    )
    p.add_argument("call_id", metavar="CALL_ID", help="the call's id")
    add_url_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
    from websockets.sync.client import connect

    try:
        server = base_url(settings, args.url)
    except ValueError as exc:
        return _fail(str(exc), USAGE)
    url = f"{websocket_url(server)}/v1/calls/{quote(args.call_id, safe='')}/events"
    try:
        with connect(
            url, additional_headers=auth_headers(settings), open_timeout=OPEN_TIMEOUT_S
        ) as socket:
            for message in socket:
                text = message if isinstance(message, str) else message.decode()
                _print_event(text)
    except ConnectionClosed as exc:
        if exc.rcvd is not None and exc.rcvd.code == CALL_NOT_FOUND:
            return _no_call(args.call_id, server)
        return OK if exc.rcvd is not None and exc.rcvd.code == 1000 else _closed(exc)
    except InvalidStatus as exc:
        code = exc.response.status_code
        # uvicorn turns a WebSocket closed before it was accepted (4404) into a 403.
        if code == 403 and _call_status(server, args.call_id, settings) == 404:
            return _no_call(args.call_id, server)
        hint = "; set MEDIASERVER_API_KEYS to one of its keys" if code == 401 else ""
        return _fail(f"the server at {server} answered HTTP {code}{hint}", FAILED)
    except (OSError, TimeoutError, InvalidURI) as exc:
        return _fail(
            f"the server is not running at {server} ({exc}); start it with `mediaserver serve`, "
            "or name where it runs with --url",
            FAILED,
        )
    except KeyboardInterrupt:
        return OK
    return OK


def _print_event(text: str) -> None:
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        event = {"type": "unparsed", "text": text}
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()  # one line as each event arrives, also into a pipe


def _call_status(server: str, call_id: str, settings: Settings) -> int | None:
    """GET /v1/calls/{id}'s status (None when it cannot be asked)."""
    url = f"{server}/v1/calls/{quote(call_id, safe='')}"
    request = urllib.request.Request(url, headers=auth_headers(settings))
    try:
        with urllib.request.urlopen(request, timeout=OPEN_TIMEOUT_S) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _no_call(call_id: str, server: str) -> int:
    return _fail(f"no live call {call_id!r} at {server} (list them with GET /v1/calls)", FAILED)


def _closed(exc: Exception) -> int:
    return _fail(f"the server closed the event stream ({exc})", FAILED)


def _fail(message: str, code: int) -> int:
    print(f"mediaserver: {message}", file=sys.stderr)
    return code
