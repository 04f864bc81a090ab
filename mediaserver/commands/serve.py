"""`mediaserver serve`: run the HTTP/WebSocket server (and the transports it starts)."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import sys
from typing import Any

from mediaserver.config import Settings, WebSocketSettings


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser("serve", help="run the server")
    p.add_argument("--host", help="address to listen on (default from config: 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default from config: 8000)")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address without API keys",
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


def run(args: argparse.Namespace, settings: Settings) -> int:
    server = settings.server
    server = dataclasses.replace(
        server,
        host=args.host or server.host,
        port=args.port or server.port,
        insecure=server.insecure or args.insecure,
    )
    settings = dataclasses.replace(settings, server=server)
    if not server.api_keys and not server.insecure and not is_loopback(server.host):
        print(
            f"mediaserver: refusing to listen on {server.host} without API keys; set "
            "MEDIASERVER_API_KEYS or pass --insecure",
            file=sys.stderr,
        )
        return 2

    import uvicorn

    from mediaserver.app import create_app

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a hard dependency on Linux
        loop = "asyncio"
    else:
        del uvloop
        loop = "uvloop"
    uvicorn.run(
        create_app(settings),
        host=server.host,
        port=server.port,
        loop=loop,
        log_config=None,
        access_log=False,
        **websocket_options(settings.websocket),
    )
    return 0
