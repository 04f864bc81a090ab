"""TTS over WebRTC: tts.speak on the data channel, the server's outgoing track heard by an
aiortc peer (the real server, call core and VAD; a scripted synthesizer)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import numpy as np
import pytest
from aiortc import MediaStreamError, MediaStreamTrack

from mediaserver.app import create_app
from mediaserver.calls.manager import CallManager
from mediaserver.config import Settings
from tests.e2e.webrtc_chromium import serve
from tests.unit.calls.speaker_fakes import ToneSynthesizer
from tests.unit.transports.webrtc_client import Client, until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


async def listen(track: MediaStreamTrack, levels: list[float]) -> None:
    """RMS of every 20 ms the server sends."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        pcm = np.frombuffer(bytes(frame.planes[0]), "<i2")[: frame.samples].astype(np.float64)
        levels.append(float(np.sqrt(np.mean(pcm**2))))


@pytest.mark.parametrize("codec", ["PCMU", "opus"])
async def test_speak_on_the_data_channel_is_heard_on_the_track(
    settings: Settings, codec: str
) -> None:
    client = Client(codec, direction="sendrecv")
    levels: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    client.pc.on("track", lambda track: tasks.append(asyncio.create_task(listen(track, levels))))
    app = create_app(settings)
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as http:
        calls: CallManager = app.state.runtime.calls
        calls.synthesizer = ToneSynthesizer(seconds=1.0, rate=24000)
        try:
            body = {"sdp": await client.offer(), "type": "offer"}
            answer: dict[str, Any] = (await http.post("/v1/webrtc/offer", json=body)).json()
            await client.accept(answer["sdp"])
            await until(lambda: "session.created" in client.types())
            await until(lambda: len(levels) > 10)  # silence flows before any speech
            assert max(levels) < 100
            client.channel.send(json.dumps({"type": "tts.speak", "text": "Olá!"}))
            await until(lambda: "tts.speaking_end" in client.types())
            await asyncio.sleep(0.3)  # the last frames are still on their way
            loud = sum(level > 2000 for level in levels)
            assert 40 <= loud <= 60  # ~1 s of tone in 20 ms frames
            end = next(e for e in client.events if e["type"] == "tts.speaking_end")
            assert end["cancelled"] is False
            client.channel.send(json.dumps({"type": "tts.speak", "text": ""}))
            await until(lambda: any(e.get("code") == "invalid_speak" for e in client.events))
            client.channel.send(json.dumps({"type": "session.close"}))
            await until(lambda: "session.closed" in client.types())
        finally:
            for task in tasks:
                task.cancel()
            await client.pc.close()


async def test_a_send_only_offer_cannot_be_spoken_to(settings: Settings) -> None:
    client = Client("PCMU")  # sendonly, as the demo page offered before TTS
    app = create_app(settings)
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as http:
        calls: CallManager = app.state.runtime.calls
        calls.synthesizer = ToneSynthesizer()
        try:
            body = {"sdp": await client.offer(), "type": "offer"}
            answer: dict[str, Any] = (await http.post("/v1/webrtc/offer", json=body)).json()
            await client.accept(answer["sdp"])
            await until(lambda: "session.created" in client.types())
            client.channel.send(json.dumps({"type": "tts.speak", "text": "Olá!"}))
            await until(lambda: any(e.get("code") == "tts_unavailable" for e in client.events))
            r = await http.post(f"/v1/calls/{answer['id']}/speak", json={"text": "Olá!"})
            assert (r.status_code, r.json()["error"]["code"]) == (409, "no_audio_path")
            client.channel.send(json.dumps({"type": "session.close"}))
            await until(lambda: "session.closed" in client.types())
        finally:
            await client.pc.close()
