"""Live transcription with the real faster-whisper base model and real human telephony speech.

Three ways in, each a call of a few Asterisk prompts separated by silence, the last one spoken
right before the call ends (hangup, DELETE, `session.close`), so its final is still being
computed when the close comes:

- RTP: paced G.711 µ-law from a UDP socket, the call created by `POST /v1/calls` naming
  neither model nor language (the server's defaults), ended by `DELETE`;
- AudioSocket: slin frames paced in real time, ended by the peer's hangup frame (AudioSocket
  cannot name a language: the server's default is the only one it gets);
- the realtime WebSocket: the whole call sent in one burst, then `session.close` at once, while
  the transcriber is far behind;
- WebRTC: an aiortc peer (a browser's stack, without the browser) sends the call as PCMU and
  says `session.close` on the `events` data channel right after the last word.

Each must give exactly one final per prompt (none lost, none duplicated, no word twice across a
boundary), and a WER close to what faster-whisper gives on the same recordings directly.

The margin: these calls hold 13-19 reference words, so one word is 5-8 points of WER. The live
path differs from the direct call by things that legitimately cost a word now and then: the
VAD's cut (speech padding, a clipped onset), G.711 µ-law on RTP and WebRTC, and the final's
shorter encoder window (speech + 5 s, at least 20 s; `whisper_context.py`). The issue
measured 6.3 % live vs 5.5 % direct over 24 utterances on this model; two words of slack
(`MARGIN_WORDS`) holds that with room for one unlucky word per call, and still fails a live
path that drops or garbles an utterance.

`REALMODEL_DUMP=FILE` appends every event of every call to FILE (JSON lines) to diagnose a
failure; `-s` shows the WER figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from mediaserver.codecs.audiosocket import encode_audio, encode_hangup, encode_uuid
from mediaserver.config import Settings
from tests.e2e.live_server import LiveServer, live_server
from tests.e2e.realmodel.conftest import MODEL
from tests.e2e.realmodel.support import (
    BURST_PROMPTS,
    CALL_PROMPTS,
    RATE,
    Call,
    check_transcripts,
    lay_out,
)
from tests.e2e.rtp_peer import EventLog, g711_packets, send_paced
from tests.real_speech import Prompt
from tests.unit.transports.webrtc_client import Client, PcmTrack, until

# Under a minute a test on an idle 2-core box; several times that when the box is shared.
pytestmark = [pytest.mark.e2e, pytest.mark.real_model, pytest.mark.timeout(300)]

MARGIN_WORDS = 2
FRAME_BYTES = 320  # 20 ms of PCM16 at 8 kHz


def assert_accuracy(
    call: Call, events: list[dict[str, Any]], direct: dict[str, tuple[int, int]]
) -> None:
    if os.environ.get("REALMODEL_DUMP"):
        with open(os.environ["REALMODEL_DUMP"], "a") as dump:
            for e in events:
                dump.write(json.dumps(e) + "\n")
    outcome = check_transcripts(call, events)
    direct_errors = sum(direct[p.name][0] for p in call.prompts)
    print(  # shown with -s: the figures the bound is about
        f"live WER {outcome.wer:.1%} ({outcome.errors}/{outcome.reference_words}) vs direct "
        f"{direct_errors / outcome.reference_words:.1%} ({direct_errors})"
    )
    assert outcome.errors <= direct_errors + MARGIN_WORDS, [
        e.get("raw_text") for e in events if e["type"] == "transcript.final"
    ]


async def watch(server: LiveServer, events_url: str) -> tuple[EventLog, asyncio.Task[None]]:
    log = EventLog()
    task = asyncio.create_task(log.run(f"{server.ws_url}{events_url}"))
    await asyncio.wait_for(log.opened.wait(), 10)
    return log, task


async def warm_up(server: LiveServer) -> None:
    """Load the model's live worker before the call: these tests are about a serving server,
    not about a cold start racing the first utterance."""
    await server.runtime.supervisor.load(MODEL)


def pick(prompts: dict[str, Prompt], names: tuple[str, ...]) -> Call:
    return lay_out([prompts[name] for name in names])


async def test_rtp_call_with_the_server_defaults_ended_by_delete(
    real_settings: Settings,
    prompts: dict[str, Prompt],
    direct_errors: dict[str, tuple[int, int]],
) -> None:
    call = pick(prompts, CALL_PROMPTS)
    async with (
        live_server(real_settings) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=120) as http,
    ):
        await warm_up(server)
        r = await http.post("/v1/calls", json={"codec": "PCMU"})  # model, language: defaults
        assert r.status_code == 201, r.text
        created = r.json()
        log, task = await watch(server, created["events_url"])
        packets = g711_packets(call.pcm, ssrc=0x1234, sequence=1000, timestamp=0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await send_paced(sock, created["rtp"]["port"], [[p] for p in packets])
        deleted = await http.delete(f"/v1/calls/{created['id']}")  # right after the last word
        assert deleted.status_code == 200
        await asyncio.wait_for(task, 90)  # closing waits up to 60 s for the last finals
        metrics = (await http.get("/metrics")).text
    events = log.events
    assert events[0]["model"] == "faster-whisper-base"
    assert events[0]["language"] == "en"
    assert_accuracy(call, events, direct_errors)
    latency = [line for line in metrics.splitlines() if line.startswith("mediaserver_final_lat")]
    assert "mediaserver_final_latency_seconds_count 0.0" not in latency
    assert not [line for line in metrics.splitlines() if line.startswith("mediaserver_finals_lost")]


async def test_audiosocket_call_ended_by_the_peer_hanging_up(
    real_settings: Settings,
    prompts: dict[str, Prompt],
    direct_errors: dict[str, tuple[int, int]],
) -> None:
    call = pick(prompts, CALL_PROMPTS)
    call_id = uuid.uuid4()
    frames = [call.pcm[i : i + 160].tobytes() for i in range(0, len(call.pcm), 160)]
    async with (
        live_server(real_settings) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=120) as http,
    ):
        await warm_up(server)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.audiosocket_port)
        writer.write(encode_uuid(call_id) + encode_audio(frames[0], RATE))
        await writer.drain()
        for _ in range(500):
            if (await http.get(f"/v1/calls/{call_id}")).status_code == 200:
                break
            await asyncio.sleep(0.01)
        log, task = await watch(server, f"/v1/calls/{call_id}/events")
        start = time.monotonic()
        for index, frame in enumerate(frames[1:], 1):  # paced in real time, from deadlines
            writer.write(encode_audio(frame, RATE))
            delay = start + index * 0.02 - time.monotonic()
            if delay > 0:
                await writer.drain()
                await asyncio.sleep(delay)
        writer.write(encode_hangup())
        await writer.drain()
        await asyncio.wait_for(task, 90)  # closing waits up to 60 s for the last finals
        writer.close()
        await reader.read()  # our hangup back, then EOF
    events = log.events
    assert events[0]["language"] == "en"  # the server's default: AudioSocket cannot say
    assert_accuracy(call, events, direct_errors)


async def test_realtime_ws_burst_then_session_close(
    real_settings: Settings,
    prompts: dict[str, Prompt],
    direct_errors: dict[str, tuple[int, int]],
) -> None:
    call = pick(prompts, BURST_PROMPTS)
    pcm = call.pcm.astype("<i2").tobytes()
    async with live_server(real_settings) as server:
        await warm_up(server)
        url = f"{server.ws_url}/v1/realtime?model=faster-whisper-base&language=en"
        async with connect(url, max_size=None) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.send(json.dumps({"type": "session.configure", "sample_rate": RATE}))
            assert json.loads(await ws.recv())["type"] == "session.created"
            for offset in range(0, len(pcm), FRAME_BYTES):  # as fast as the socket takes it
                await ws.send(pcm[offset : offset + FRAME_BYTES])
            await ws.send(json.dumps({"type": "session.close"}))
            events: list[dict[str, Any]] = []
            async with asyncio.timeout(60):
                while not events or events[-1]["type"] != "session.closed":
                    events.append(json.loads(await ws.recv()))
    # A burst is over the rate limit (told once); nothing may be dropped under the backlog.
    kinds = [e["type"] for e in events]
    assert "session.frames_dropped" not in kinds
    events = [e for e in events if e["type"] != "session.rate_limit"]
    assert_accuracy(call, events, direct_errors)


async def test_webrtc_call_closed_on_the_data_channel_after_the_last_word(
    real_settings: Settings,
    prompts: dict[str, Prompt],
    direct_errors: dict[str, tuple[int, int]],
) -> None:
    call = pick(prompts, CALL_PROMPTS)
    track = PcmTrack(call.pcm)
    client = Client("PCMU", track=track)
    async with (
        live_server(real_settings) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=120) as http,
    ):
        try:
            await warm_up(server)
            offer = {"sdp": await client.offer(), "type": "offer", "language": "en"}
            r = await http.post("/v1/webrtc/offer", json=offer)  # model: the server's default
            assert r.status_code == 201, r.text
            await client.accept(r.json()["sdp"])
            await asyncio.wait_for(track.done.wait(), len(call.pcm) / RATE + 30)
            client.channel.send(json.dumps({"type": "session.close"}))
            await until(lambda: "session.closed" in client.types(), 90)
        finally:
            await client.pc.close()
    events = client.events
    assert events[0]["type"] == "session.created"
    assert (events[0]["transport"], events[0]["model"]) == ("webrtc", MODEL)
    assert events[-1]["reason"] == "requested"
    assert_accuracy(call, events, direct_errors)
