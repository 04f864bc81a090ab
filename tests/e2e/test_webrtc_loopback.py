"""The real server (uvicorn, call core, VAD) with an aiortc peer as the browser: no Chromium
needed, so this runs wherever the package installs."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mediaserver.app import create_app
from mediaserver.config import Settings
from tests.e2e.webrtc_chromium import serve
from tests.unit.transports.webrtc_client import Client, until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


async def offer(http: httpx.AsyncClient, client: Client, **options: Any) -> dict[str, Any]:
    r = await http.post(
        "/v1/webrtc/offer", json={"sdp": await client.offer(), "type": "offer", **options}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    await client.accept(body["sdp"])
    return body


async def test_call_lifecycle_over_the_data_channel(settings: Settings) -> None:
    client = Client("PCMU")
    async with serve(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as http:
        try:
            answer = await offer(http, client, language="pt")
            # session.created is sent to late subscribers too: the channel opens after it.
            await until(lambda: "session.created" in client.types())
            created = client.events[0]
            assert created["type"] == "session.created"
            assert (created["call_id"], created["transport"]) == (answer["id"], "webrtc")
            assert created["codec"] == "PCMU"
            await until(lambda: ("init", "silence") in transitions(client.events))

            detail = (await http.get(f"/v1/calls/{answer['id']}")).json()
            assert detail["transport"] == "webrtc"
            assert detail["stats"]["frames_received"] > 0

            client.channel.send(json.dumps({"type": "session.close"}))
            await until(lambda: "session.closed" in client.types())
            assert client.events[-1]["reason"] == "requested"
            await until(lambda: client.pc.connectionState == "closed")
            assert (await http.get("/v1/calls")).json()["data"] == []
        finally:
            await client.pc.close()


async def test_server_shutdown_ends_webrtc_calls_with_their_last_event(settings: Settings) -> None:
    client = Client()
    try:
        async with serve(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as http:
            await offer(http, client)
            await until(lambda: ("init", "silence") in transitions(client.events))
        # Leaving `serve` ran the lifespan's shutdown while the call was live.
        assert client.events[-1]["type"] == "session.closed"
        assert client.events[-1]["reason"] == "shutdown"
        await until(lambda: client.pc.connectionState == "closed")
    finally:
        await client.pc.close()


def transitions(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["from"], e["to"]) for e in events if e["type"] == "session.state"]
