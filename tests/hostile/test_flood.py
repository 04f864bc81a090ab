"""Issue 11, item 5: one flooding client must not degrade everyone.

The audit: an AudioSocket peer at 87x real time, or a WebSocket client pushing 5,593 s of audio
in 25 s, made another call lose 1-3 of 3 finals and `/health` p50 went from 5 to 267 ms. Now
input beyond 1.2x real time is refused at the edge (reading pauses, TCP holds the client back,
`session.rate_limit` tells it), and VAD work is bounded per call per tick. Checked here: the
pure rule, the AudioSocket edge over a real socket, the ticker's bound, and a victim call's
finals beside both floods on the real server (scripted STT: only timing matters).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import connect

from mediaserver.audio.silero import SileroModel
from mediaserver.audio.vad import VadBatcher, VadStream
from mediaserver.calls.vad_ticker import MAX_CHUNKS_PER_TICK, VadTicker
from mediaserver.codecs.audiosocket import encode_audio, encode_uuid
from mediaserver.config import AudioSocketSettings, Settings, WebSocketSettings
from mediaserver.engines.base import Architecture, Capabilities, Hypothesis
from mediaserver.observability import Metrics
from mediaserver.transports.audiosocket import AudioSocketServer
from mediaserver.transports.backpressure import Backpressure, Verdict
from tests.call_audio import PHRASES, frames, silence, speech
from tests.e2e.live_server import live_server
from tests.fake_calls import FakeCall, FakeCallManager

pytestmark = pytest.mark.timeout(90)

NOISE = (np.random.default_rng(5).standard_normal(160 * 50) * 3000).astype(np.int16)


# -- the rule ---------------------------------------------------------------------------------


def test_a_flood_obeying_the_pauses_gets_1_2x_real_time_and_loses_nothing() -> None:
    bp = Backpressure()
    now = 0.0
    for _ in range(1000):  # 20 s of 20 ms frames, each sent the moment the server reads again
        admission = bp.admit(0.02, now)
        assert admission.verdict is not Verdict.DROP
        now += admission.pause_s
    assert bp.rate_limited_episodes == 1
    assert (20.0 - bp.burst_s) / 1.2 <= now <= 20.0 / 1.2


def test_a_real_time_sender_is_never_paused_even_with_jitter() -> None:
    bp = Backpressure()
    rng = np.random.default_rng(1)
    arrival = 0.0
    for i in range(3000):  # up to 200 ms late, then the frames held back arrive at once
        arrival = max(arrival, i * 0.02 + float(rng.uniform(0, 0.2)))
        admission = bp.admit(0.02, arrival)
        assert admission.pause_s == 0
        assert admission.verdict is Verdict.ACCEPT


# -- the AudioSocket edge ---------------------------------------------------------------------


@pytest.fixture
async def audiosocket() -> AsyncIterator[tuple[AudioSocketServer, FakeCallManager, Metrics]]:
    manager, metrics = FakeCallManager(), Metrics()
    server = AudioSocketServer(
        AudioSocketSettings(host="127.0.0.1"), manager, metrics, limits=WebSocketSettings()
    )
    await server.start(port=0)
    try:
        yield server, manager, metrics
    finally:
        await server.stop()


async def test_an_audiosocket_flood_is_held_to_the_rate_at_the_edge(
    audiosocket: tuple[AudioSocketServer, FakeCallManager, Metrics],
) -> None:
    server, manager, metrics = audiosocket
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    one_second = b"".join(encode_audio(f.tobytes(), 8000) for f in frames(NOISE, 8000))
    writer.write(encode_uuid(uuid.uuid4()))
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2.0):
            for _ in range(300):  # 300 s of audio, as fast as TCP lets us
                writer.write(one_second)
                await writer.drain()
    elapsed = time.monotonic() - started
    [call] = manager.created
    assert isinstance(call, FakeCall)
    fed_s = len(call.fed_bytes) / 16000
    # The 0.5 s burst, 1.2 x the time that passed, and one read (4 KiB) of slack.
    assert fed_s <= 0.5 + 1.2 * elapsed + 0.3, (fed_s, elapsed)
    assert fed_s >= 1.0  # ... but it was not cut off either
    assert metrics.registry.get_sample_value("mediaserver_audiosocket_rate_limited_total") == 1
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


# -- per-call work per tick -------------------------------------------------------------------


class Client:
    def __init__(self, seconds: float) -> None:
        self.vad_stream = VadStream()
        self.done = 0
        loud = np.random.default_rng(2).standard_normal(round(seconds * 16000)) * 8000
        self.vad_stream.feed(loud.astype(np.int16))

    def vad_done(self, now: float) -> None:
        self.done += 1

    def vad_failed(self, exc: Exception) -> None:
        raise AssertionError(exc)


async def test_a_call_fed_far_ahead_is_spread_over_ticks_others_are_not_held_up() -> None:
    ticker = VadTicker(VadBatcher(SileroModel()))
    flood, others = Client(10.0), [Client(0.064) for _ in range(5)]
    for client in (flood, *others):
        ticker.mark(client)
    ticker.run_once(0.0)
    assert all(not c.vad_stream.pending and c.done == 1 for c in others)
    assert flood.done == 1
    assert flood.vad_stream.pending  # 4 chunks decided, the rest waits
    assert ticker.inferences == MAX_CHUNKS_PER_TICK
    ticks = 1
    while flood.vad_stream.pending:
        ticker.run_once(ticks * 0.02)  # it was marked again by the ticker itself
        ticks += 1
    assert ticks == -(-round(10.0 * 16000 / 512) // MAX_CHUNKS_PER_TICK)


# -- a victim call beside both floods, on the real server -------------------------------------


class ScriptedStream:
    async def accept(self, audio: Any) -> Hypothesis:
        return Hypothesis(text="um dois")

    async def finish(self, audio: Any = None) -> Hypothesis:
        await asyncio.sleep(0.02)
        return Hypothesis(text="um dois três", is_final=True)

    async def aclose(self) -> None:
        return None


class ScriptedRecognizers:
    name = "scripted"
    architecture = Architecture.ENCODER_DECODER
    capabilities = Capabilities()

    def require(self, model: str) -> None:
        """Every model is "installed": the script answers for any name."""

    async def get(self, model: str) -> ScriptedRecognizers:
        return self

    async def open_stream(self, options: Any) -> ScriptedStream:
        return ScriptedStream()

    async def aclose(self) -> None:
        return None


FLOODER = """
import asyncio, sys, time, uuid
import numpy as np
from websockets.asyncio.client import connect
from mediaserver.codecs.audiosocket import encode_audio, encode_uuid
noise = (np.random.default_rng(3).standard_normal(16000) * 3000).astype(np.int16)
async def audiosocket(port, seconds):
    _, writer = await asyncio.open_connection("127.0.0.1", int(port))
    writer.write(encode_uuid(uuid.uuid4()))
    chunk = b"".join(encode_audio(noise[i:i + 160].tobytes(), 8000) for i in range(0, 8000, 160))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        writer.write(chunk)
        await asyncio.wait_for(writer.drain(), max(0.01, end - time.monotonic()))
async def websocket(url, seconds):
    async with connect(url + "/v1/realtime") as ws:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            left = max(0.01, end - time.monotonic())
            await asyncio.wait_for(ws.send(noise[:320].tobytes()), left)
kind, target, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
try:
    asyncio.run(audiosocket(target, seconds) if kind == "as" else websocket(target, seconds))
except Exception:
    pass
"""


async def probe(url: str, stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url) as http:
        while not stop.is_set():
            started = time.monotonic()
            await http.get("/health")
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.02)
    return latencies


@pytest.mark.needs_espeak
async def test_a_victim_keeps_its_finals_and_health_stays_quick_beside_two_floods(
    settings: Settings,
) -> None:
    rate = 16000
    parts = [silence(0.8, rate)]
    for text in PHRASES:
        parts += [speech(text, rate), silence(1.3, rate)]
    audio = np.concatenate(parts)
    async with live_server(settings) as server:
        server.runtime.calls.recognizers = ScriptedRecognizers()
        seconds = len(audio) / rate + 1
        flooders = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", FLOODER, kind, target, str(seconds)
            )
            for kind, target in (("as", str(server.audiosocket_port)), ("ws", server.ws_url))
        ]
        stop = asyncio.Event()
        prober = asyncio.create_task(probe(server.http_url, stop))
        await asyncio.sleep(0.5)
        ends: list[float] = []
        lags: list[float] = []

        def note(message: str | bytes) -> None:
            event = json.loads(message)
            if event["type"] == "vad.speech_end":
                ends.append(time.monotonic())
            elif event["type"] == "transcript.final":
                lags.append(time.monotonic() - ends[len(lags)])

        try:
            async with connect(f"{server.ws_url}/v1/realtime?model=scripted") as ws:
                loop = asyncio.get_running_loop()
                start = loop.time()
                for i, frame in enumerate(frames(audio, rate)):
                    await ws.send(frame.tobytes())
                    await asyncio.sleep(max(0.0, start + 0.02 * (i + 1) - loop.time()))
                    with contextlib.suppress(TimeoutError):
                        while True:
                            note(await asyncio.wait_for(ws.recv(), 0.0001))
                await ws.send(json.dumps({"type": "session.close"}))
                async for message in ws:
                    note(message)
        finally:
            stop.set()
            latencies = await prober
            for flooder in flooders:
                with contextlib.suppress(ProcessLookupError):
                    flooder.kill()
                await flooder.wait()
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            metrics = (await http.get("/metrics")).text
    assert len(lags) == len(PHRASES), lags
    assert max(lags) < 1.5, lags  # a final follows its speech end, flood or not
    assert statistics.median(latencies) < 0.1, statistics.median(latencies)
    # Both floods were refused at the edge (the victim, at real time, never was).
    assert counter(metrics, "audiosocket_rate_limited") == 1
    assert counter(metrics, "realtime_rate_limited") >= 1


def counter(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(f"mediaserver_{name}_total "):
            return float(line.split()[1])
    return 0.0
