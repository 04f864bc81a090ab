"""Failure 7: at debug level the server's log (uvicorn's and websockets' records included) never
carries the API key or what clients send over the WebSocket (TTS text, hot words)."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tests.hostile.server import API_KEY, AUTH, Server

SPOKEN = "meu cpf e 123.456.789-09 marcador-falado"
HOT_WORD = "Joaquim-Marcador-Silva"


async def test_debug_log_has_no_keys_and_no_frame_payloads(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.url}/v1/models", headers=AUTH)).status_code == 200
    ws_url = server.url.replace("http", "ws", 1) + "/v1/realtime?model=tiny-whisper"
    async with websockets.connect(
        ws_url,
        subprotocols=["mediaserver", f"api-key.{API_KEY}"],  # type: ignore[list-item]
    ) as ws:
        await ws.recv()  # session.created
        await ws.send(json.dumps({"type": "session.configure", "hot_words": [HOT_WORD]}))
        await ws.send(json.dumps({"type": "tts.speak", "text": SPOKEN}))
        await asyncio.sleep(0.3)
        await ws.send(json.dumps({"type": "session.close"}))
        async for _ in ws:
            pass
    async with websockets.connect(f"{ws_url}&api_key={API_KEY}") as ws:
        await ws.recv()
    await asyncio.sleep(0.3)  # the log is written by another process
    log = server.log_text()
    # The records are there (so the test can fail), their secrets are not.
    assert "TEXT <redacted> [" in log
    assert "api-key.<redacted>" in log
    assert "api_key=<redacted>" in log
    assert API_KEY not in log
    assert "marcador-falado" not in log
    assert "123.456.789" not in log
    assert HOT_WORD not in log
