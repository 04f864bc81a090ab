"""The real server (uvicorn + the app + its AudioSocket listener) on free loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from mediaserver.app import create_app
from mediaserver.commands.serve import websocket_options
from mediaserver.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    http_url: str
    ws_url: str
    audiosocket_port: int
    runtime: Any


@contextlib.asynccontextmanager
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """Serve `settings` (server and AudioSocket ports replaced by free ones) until exit."""
    settings = dataclasses.replace(
        settings,
        audiosocket=dataclasses.replace(settings.audiosocket, enabled=True, port=free_port()),
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        lifespan="on",
        **websocket_options(settings.websocket),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise RuntimeError("the server did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield LiveServer(
            http_url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}",
            audiosocket_port=settings.audiosocket.port,
            runtime=app.state.runtime,
        )
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 20)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
