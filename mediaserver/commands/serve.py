"""`mediaserver serve`: run the HTTP/WebSocket server (and the transports it starts)."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import sys
from typing import Any

from mediaserver.config import ServerSettings, Settings, WebSocketSettings


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser("serve", help="run the server")
    p.add_argument("--host", help="address to listen on (default from config: 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default from config: 8000)")
    # Also accepted before the verb; SUPPRESS keeps the global value when not given here.
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML settings file")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address without API keys",
    )
    p.add_argument(
        "--pull-missing",
        action="store_true",
        help="first download the default STT model if it is not installed (offline: say so "
        "and serve without it)",
    )
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def websocket_options(ws: WebSocketSettings) -> dict[str, Any]:
    """uvicorn's WebSocket arguments. The websockets-sansio implementation pings every
    `ping_interval_s` and closes (1011) a socket whose pong is `pong_timeout_s` late; uvicorn
    applies this per server, not per socket. Frames past 4x `max_message_bytes` are refused
    by uvicorn (1009); smaller oversize ones get an `error` event from the session."""
    return {
        "ws": "websockets-sansio",
        "ws_max_size": 4 * ws.max_message_bytes,
        "ws_ping_interval": ws.ping_interval_s,
        "ws_ping_timeout": ws.pong_timeout_s,
    }


def bind_refusal(server: ServerSettings) -> str | None:
    """Why the server must not listen as configured, or None: an open server needs keys."""
    if server.api_keys or server.insecure or is_loopback(server.host):
        return None
    return (
        f"refusing to listen on {server.host} without API keys; set MEDIASERVER_API_KEYS "
        "or pass --insecure"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    server = settings.server
    server = dataclasses.replace(
        server,
        host=args.host or server.host,
        port=args.port or server.port,
        insecure=server.insecure or args.insecure,
    )
    settings = dataclasses.replace(settings, server=server)
    refusal = bind_refusal(server)
    if refusal is not None:
        print(f"mediaserver: {refusal}", file=sys.stderr)
        return 2
    if getattr(args, "pull_missing", False):
        from mediaserver.commands.default_model import pull_missing_default

        try:
            pull_missing_default(settings)
        except KeyboardInterrupt:
            print("mediaserver: interrupted; nothing was installed", file=sys.stderr)
            return 1

    import uvicorn

    from mediaserver.app import create_app, install_log_filters, runtime_of_app
    from mediaserver.commands.draining_server import DrainingServer

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a hard dependency on Linux
        loop = "asyncio"
    else:
        del uvloop
        loop = "uvloop"
    install_log_filters()
    app = create_app(settings, freeze_heap=True)
    config = uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        loop=loop,
        log_config=None,
        access_log=False,
        # Calls were drained before uvicorn shuts down; what is left gets this long.
        timeout_graceful_shutdown=5,
        **websocket_options(settings.websocket),
    )
    uv_server = DrainingServer(config, runtime_of_app(app).drainer)
    uv_server.run()
    if uv_server.forced:
        # Forced means now: do not let the interpreter's exit join background threads (a NeMo
        # grammar build can take seconds). Worker processes watch their parent and exit too.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    return 0 if uv_server.started else 1
