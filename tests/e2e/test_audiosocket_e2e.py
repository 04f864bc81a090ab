"""Asterisk's side played by a TCP client: pt-BR speech over AudioSocket into the real server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import connect

from mediaserver.codecs.audiosocket import (
    AudioSocketParser,
    Hangup,
    Message,
    PeerError,
    encode_audio,
    encode_dtmf,
    encode_hangup,
    encode_uuid,
)
from mediaserver.config import Settings
from tests.call_audio import PHRASES, frames, loud_bounds, silence, speech
from tests.e2e.live_server import LiveServer, live_server

pytestmark = [pytest.mark.e2e, pytest.mark.needs_espeak, pytest.mark.timeout(120)]

LEAD_S, TAIL_S = 1.0, 2.0
SPEED = 4.0  # AudioSocket has no flow control: send faster than real time to keep tests short


class Asterisk:
    """An AudioSocket peer on one TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = AudioSocketParser()

    @classmethod
    async def dial(cls, server: LiveServer) -> Asterisk:
        return cls(*await asyncio.open_connection("127.0.0.1", server.audiosocket_port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def stream(self, pcm: np.ndarray[Any, Any], rate: int) -> None:
        """20 ms frames paced from a deadline (`SPEED` x real time)."""
        start = time.monotonic()
        for index, frame in enumerate(frames(pcm, rate)):
            self.writer.write(encode_audio(frame.tobytes(), rate))
            delay = start + index * 0.02 / SPEED - time.monotonic()
            if delay > 0:
                await self.writer.drain()
                await asyncio.sleep(delay)
        await self.writer.drain()

    async def until_eof(self) -> list[Message]:
        messages: list[Message] = []
        async with asyncio.timeout(15):
            while data := await self.reader.read(65536):
                messages += self.parser.feed(data)
        self.writer.close()
        return messages


async def wait_for_call(client: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    for _ in range(500):
        response = await client.get(f"/v1/calls/{call_id}")
        if response.status_code == 200:
            info: dict[str, Any] = response.json()
            return info
        await asyncio.sleep(0.01)
    raise AssertionError(f"call {call_id} never appeared")


async def collect_events(url: str, ready: asyncio.Event) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with connect(url) as ws:
        ready.set()
        async for message in ws:
            events.append(json.loads(message))
            if events[-1]["type"] == "session.closed":
                break
    return events


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"mediaserver_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not exported")


def speech_call(rate: int) -> tuple[np.ndarray[Any, Any], float, float]:
    """Silence, a pt-BR phrase, silence; and where the phrase is loud (seconds)."""
    voice = speech(PHRASES[0], rate)
    on, off = loud_bounds(voice, rate)
    audio = np.concatenate([silence(LEAD_S, rate), voice, silence(TAIL_S, rate)])
    return audio, LEAD_S + on, LEAD_S + off


def check_speech_events(events: list[dict[str, Any]], onset: float, offset: float) -> None:
    starts = [e for e in events if e["type"] == "vad.speech_start"]
    ends = [e for e in events if e["type"] == "vad.speech_end"]
    assert starts, [e["type"] for e in events]
    assert len(ends) == len(starts)
    # VAD pads speech by 200 ms each side; allow that plus a few VAD windows.
    assert onset * 1000 - 450 <= starts[0]["audio_ms"] <= onset * 1000 + 250
    assert offset * 1000 - 250 <= ends[-1]["audio_ms"] <= offset * 1000 + 700
    transitions = [(e["from"], e["to"]) for e in events if e["type"] == "session.state"]
    assert ("silence", "active") in transitions
    assert ("active", "silence") in transitions


async def test_asterisk_call_speech_dtmf_and_hangup(settings: Settings) -> None:
    rate = 8000
    audio, onset, offset = speech_call(rate)
    call_id = str(uuid.uuid4())
    async with live_server(settings) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        peer = await Asterisk.dial(server)
        # A DTMF digit first creates the call before any audio, so the subscriber below sees
        # every state change.
        await peer.send(encode_uuid(uuid.UUID(call_id)) + encode_dtmf("1"))
        await wait_for_call(http, call_id)
        ready = asyncio.Event()
        watcher = asyncio.create_task(
            collect_events(f"{server.ws_url}/v1/calls/{call_id}/events", ready)
        )
        await asyncio.wait_for(ready.wait(), 5)
        await peer.stream(audio[: len(audio) // 2], rate)
        info = await wait_for_call(http, call_id)
        await peer.send(encode_dtmf("#"))
        await peer.stream(audio[len(audio) // 2 :], rate)
        await peer.send(encode_hangup())
        back = await peer.until_eof()
        events = await asyncio.wait_for(watcher, 30)
        metrics = (await http.get("/metrics")).text
        assert (await http.get(f"/v1/calls/{call_id}")).status_code == 404
    assert back == [Hangup()]
    assert info["transport"] == "audiosocket"
    assert info["codec"] == "slin"
    assert info["remote"].startswith("127.0.0.1:")
    assert info["stats"]["frames_received"] > 0
    assert events[0]["type"] == "session.created"
    assert events[-1]["type"] == "session.closed"
    assert {e["call_id"] for e in events} == {call_id}
    # "1" created the call before the watcher subscribed; "#" came while it watched.
    assert info["stats"]["dtmf_received"] == 1
    assert [e["digit"] for e in events if e["type"] == "dtmf"] == ["#"]
    check_speech_events(events, onset, offset)
    # No STT model here and none by default: a VAD/DTMF call, without errors.
    assert [e for e in events if e["type"] == "error"] == []
    assert metric(metrics, "audiosocket_connections_total") == 1


async def test_broken_stream_closes_only_its_call(settings: Settings) -> None:
    rate = 16000
    audio, onset, offset = speech_call(rate)
    good_id, bad_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with live_server(settings) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        good, bad = await Asterisk.dial(server), await Asterisk.dial(server)
        await good.send(encode_uuid(uuid.UUID(good_id)) + encode_dtmf("5"))
        await bad.send(encode_uuid(uuid.UUID(bad_id)) + encode_audio(bytes(640), rate))
        await wait_for_call(http, good_id)
        bad_info = await wait_for_call(http, bad_id)
        ready = asyncio.Event()
        watcher = asyncio.create_task(
            collect_events(f"{server.ws_url}/v1/calls/{good_id}/events", ready)
        )
        await asyncio.wait_for(ready.wait(), 5)
        streaming = asyncio.create_task(good.stream(audio, rate))
        await bad.send(b"\x42\x00\x00")  # an unknown message kind: framing is lost
        assert PeerError(None) in await bad.until_eof()
        # A second connection reusing the live call's UUID is refused.
        dup = await Asterisk.dial(server)
        await dup.send(encode_uuid(uuid.UUID(good_id)) + encode_audio(bytes(640), rate))
        assert await dup.until_eof() == [PeerError(None)]
        await streaming
        await good.send(encode_hangup())
        await good.until_eof()
        events = await asyncio.wait_for(watcher, 30)
        metrics = (await http.get("/metrics")).text
    assert bad_info["codec"] == "slin16"
    check_speech_events(events, onset, offset)
    assert events[-1]["type"] == "session.closed"
    assert metric(metrics, "audiosocket_protocol_errors_total") == 1
    assert metric(metrics, "audiosocket_refused_total") == 1
    assert metric(metrics, "audiosocket_connections_total") == 3
