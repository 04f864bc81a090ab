"""A WebSocket client speaking the realtime protocol to the real server (uvicorn)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import time
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mediaserver.config import Settings
from tests.call_audio import PHRASES, frames, loud_bounds, silence, speech
from tests.e2e.live_server import live_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LEAD_S, TAIL_S = 1.0, 2.0


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            message = await ws.recv()
            if isinstance(message, str):
                event: dict[str, Any] = json.loads(message)
                return event


async def events_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Events up to and including the next one of type `kind`."""
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] != kind:
        events.append(await next_event(ws))
    return events


async def events_until_closed(ws: ClientConnection) -> list[dict[str, Any]]:
    return await events_until(ws, "session.closed")


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; the code it sent."""
    try:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"mediaserver_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not exported")


async def send_paced(
    ws: ClientConnection, pcm: np.ndarray[Any, Any], rate: int, speed: float
) -> None:
    """20 ms binary frames at `speed` x real time, paced from a deadline."""
    start = time.monotonic()
    for index, frame in enumerate(frames(pcm, rate)):
        await ws.send(frame.tobytes())
        delay = start + (index + 1) * 0.02 / speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


@pytest.mark.needs_espeak
async def test_speech_session_with_configure_and_close(settings: Settings) -> None:
    rate = 8000
    voice = speech(PHRASES[1], rate)
    on, off = loud_bounds(voice, rate)
    onset, offset = LEAD_S + on, LEAD_S + off
    audio = np.concatenate([silence(LEAD_S, rate), voice, silence(TAIL_S, rate)])
    async with live_server(settings) as server:
        async with connect(f"{server.ws_url}/v1/realtime") as ws:
            created = await next_event(ws)
            assert created["type"] == "session.created"
            assert created["sample_rate"] == 16000
            bad = {"type": "session.configure", "vad": {"sensitivity": "loud"}, "sample_rate": rate}
            await ws.send(json.dumps(bad))
            errors = [e for e in await events_until(ws, "error") if e["type"] == "error"]
            refused = errors.pop()
            assert (refused["code"], refused["param"], refused["recoverable"]) == (
                "invalid_options",
                "vad.sensitivity",
                True,
            )
            await ws.send(json.dumps({"type": "session.configure", "sample_rate": rate}))
            before = errors + await events_until(ws, "session.created")
            configured = before.pop()
            assert before == []
            assert (configured["call_id"], configured["sample_rate"]) == (created["call_id"], rate)
            await send_paced(ws, audio, rate, speed=1.1)
            await ws.send(json.dumps({"type": "session.configure", "sample_rate": 16000}))
            await ws.send(json.dumps({"type": "session.close"}))
            events = before + await events_until_closed(ws)
            assert await close_code(ws) == 1000
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            assert (await http.get("/v1/calls")).json()["data"] == []
    kinds = [e["type"] for e in events]
    assert "session.rate_limit" not in kinds
    assert "session.frames_dropped" not in kinds
    errors = {e["code"]: e for e in events if e["type"] == "error"}
    assert set(errors) == {"session_already_started"}
    assert errors["session_already_started"]["recoverable"] is True
    starts = [e["audio_ms"] for e in events if e["type"] == "vad.speech_start"]
    ends = [e["audio_ms"] for e in events if e["type"] == "vad.speech_end"]
    assert starts
    assert len(starts) == len(ends)
    assert onset * 1000 - 450 <= starts[0] <= onset * 1000 + 250
    assert offset * 1000 - 250 <= ends[-1] <= offset * 1000 + 700
    transitions = [(e["from"], e["to"]) for e in events if e["type"] == "session.state"]
    assert transitions[:2] == [("init", "silence"), ("silence", "active")]
    assert transitions[-1][1] == "closed"
    assert events[-1]["reason"] == "requested"


async def test_fast_client_is_told_and_held_to_the_rate(settings: Settings) -> None:
    rate = 16000
    frame = np.zeros(rate // 5, np.int16).tobytes()  # 200 ms
    async with live_server(settings) as server:
        async with connect(f"{server.ws_url}/v1/realtime") as ws:
            await next_event(ws)
            started = time.monotonic()
            for _ in range(15):  # 3 s of audio as fast as the socket takes it
                await ws.send(frame)
            await ws.send(json.dumps({"type": "session.close"}))
            events = await events_until_closed(ws)
            elapsed = time.monotonic() - started
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            metrics = (await http.get("/metrics")).text
    kinds = [e["type"] for e in events]
    assert kinds.count("session.rate_limit") == 1
    # Nothing dropped: past the 0.5 s burst the server read at most 1.2 x real time, and TCP
    # held the client back.
    assert "session.frames_dropped" not in kinds
    assert elapsed >= (3.0 - 0.5 - 0.2) / 1.2
    assert metric(metrics, "realtime_rate_limited_total") == 1


async def test_message_size_limits(settings: Settings) -> None:
    limit = settings.websocket.max_message_bytes
    async with (
        live_server(settings) as server,
        connect(f"{server.ws_url}/v1/realtime", max_size=None) as ws,
    ):
        await next_event(ws)
        await ws.send(bytes(limit + 2))
        errors = [e for e in await events_until(ws, "error") if e["type"] == "error"]
        while errors[-1]["code"] == "model_not_found":  # no model installed here: expected
            errors += [e for e in await events_until(ws, "error") if e["type"] == "error"]
        assert (errors[-1]["code"], errors[-1]["recoverable"]) == ("message_too_large", True)
        await ws.send(bytes(4 * limit + 2))  # past uvicorn's hard limit: closed
        assert await close_code(ws) == 1009


async def raw_handshake(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that never answers pings (websockets' clients always do)."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /v1/realtime HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101")
    return reader, writer


def frame_opcodes(stream: bytes) -> list[int]:
    """The opcodes of the (unmasked, server-sent) frames in `stream`."""
    opcodes, pos = [], 0
    while pos + 2 <= len(stream):
        length, pos_payload = stream[pos + 1] & 0x7F, pos + 2
        if length == 126:
            length, pos_payload = int.from_bytes(stream[pos + 2 : pos + 4], "big"), pos + 4
        opcodes.append(stream[pos] & 0x0F)
        pos = pos_payload + length
    return opcodes


async def test_missing_pong_closes_the_session(settings: Settings) -> None:
    ws_settings = dataclasses.replace(settings.websocket, ping_interval_s=0.3, pong_timeout_s=0.3)
    settings = dataclasses.replace(settings, websocket=ws_settings)
    async with live_server(settings) as server:
        host, port = server.http_url.removeprefix("http://").split(":")
        reader, writer = await raw_handshake(host, int(port))
        started = time.monotonic()
        async with asyncio.timeout(10):
            stream = b""
            while chunk := await reader.read(65536):
                stream += chunk
        elapsed = time.monotonic() - started
        writer.close()
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            for _ in range(200):
                if not (await http.get("/v1/calls")).json()["data"]:
                    break
                await asyncio.sleep(0.01)
            assert (await http.get("/v1/calls")).json()["data"] == []
    opcodes = frame_opcodes(stream)
    assert opcodes[0] == 0x1  # session.created
    assert 0x9 in opcodes  # the server pinged
    assert opcodes[-1] == 0x8  # then closed (1011) when no pong came
    assert 0.5 <= elapsed <= 5.0
