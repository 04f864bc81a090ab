"""Closing a call waits for the finals still being computed; past the bound, each one that
never came is named (`final_lost` error, log line, `mediaserver_finals_lost_total`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import structlog
import structlog.testing

from mediaserver.audio.silero import SileroModel
from mediaserver.calls.manager import CLOSE_MARGIN_S, Call, CallManager, Transport, TransportInfo
from mediaserver.calls.postprocess import ThreadedPostprocess
from mediaserver.calls.recognizers import RecognizerStream, SpeechRecognizer
from mediaserver.config import Settings
from mediaserver.domain.normalizer import Normalizer
from mediaserver.domain.pipeline import Postprocessor
from mediaserver.engines.base import (
    Architecture,
    Audio,
    Capabilities,
    Hypothesis,
    TranscribeOptions,
)
from mediaserver.observability import Metrics
from tests.call_audio import PHRASES, frames, silence, speech

pytestmark = pytest.mark.needs_espeak


class SlowFinals:
    """A recognizer whose finals take `final_s` (partials are instant and empty)."""

    name = "slow"
    architecture = Architecture.CTC
    capabilities = Capabilities(native_partials=True)

    def __init__(self, final_s: float) -> None:
        self.final_s = final_s

    async def open_stream(self, options: TranscribeOptions) -> RecognizerStream:
        return _Stream(self.final_s)


class _Stream:
    def __init__(self, final_s: float) -> None:
        self.final_s = final_s

    async def accept(self, audio: Audio) -> Hypothesis:
        return Hypothesis("")

    async def finish(self, audio: Any = None) -> Hypothesis:
        await asyncio.sleep(self.final_s)
        return Hypothesis("obrigado tchau", is_final=True)

    async def aclose(self) -> None:
        return None


class Engines:
    def __init__(self, final_s: float) -> None:
        self.final_s = final_s

    async def get(self, model: str) -> SpeechRecognizer:
        return SlowFinals(self.final_s)

    def require(self, model: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


@pytest.fixture(scope="module")
def silero() -> SileroModel:
    return SileroModel()


async def running(settings: Settings, silero: SileroModel, final_s: float) -> CallManager:
    post = ThreadedPostprocess(lambda: Postprocessor(Normalizer(None, use_nemo=False)))
    manager = CallManager(settings, Metrics(), Engines(final_s), post, vad_model=silero)
    await manager.start()
    return manager


async def talk_then_hang_up(call: Call) -> list[dict[str, Any]]:
    """Speech right up to the hangup: the last words' final is still to be computed."""
    rate = 16000
    sub = call.subscribe()
    audio = np.concatenate([silence(0.3, rate), speech(PHRASES[0], rate)])
    for i, frame in enumerate(frames(audio, rate)):
        call.feed(frame.tobytes(), rate)
        if i % 10 == 9:
            await asyncio.sleep(0.002)
    await call.close("hangup")
    return [e async for e in sub]


@pytest.fixture
async def slow_manager(settings: Settings, silero: SileroModel) -> AsyncIterator[CallManager]:
    # 3 s: past the old 2 s closing bound, well within the 15 s default.
    manager = await running(settings, silero, final_s=3.0)
    try:
        yield manager
    finally:
        await manager.stop(drain_s=5)


async def test_hangup_waits_for_the_last_final(slow_manager: CallManager) -> None:
    # The final comes 3 s after the hangup (the old 2 s bound dropped it), before
    # session.closed.
    call = slow_manager.create(Transport.RTP, {"model": "slow"}, TransportInfo())
    got = await asyncio.wait_for(talk_then_hang_up(call), 10)
    kinds = [e["type"] for e in got]
    assert kinds.count("transcript.final") == 1
    assert "error" not in kinds
    assert kinds.index("transcript.final") < kinds.index("session.closed")
    assert "unflushed_segments" not in got[-1]
    sample = slow_manager.metrics.registry.get_sample_value
    assert sample("mediaserver_finals_lost_total", {"reason": "closing_timeout"}) is None


async def test_a_final_past_the_bound_is_named_lost(
    settings: Settings, silero: SileroModel
) -> None:
    manager = await running(settings, silero, final_s=30.0)
    try:
        options = {"model": "slow", "timeouts": {"closing_s": 0.3}}
        call = manager.create(Transport.WEBSOCKET, options, TransportInfo())
        # Captured whatever logging another test configured last.
        with structlog.testing.capture_logs() as records:
            got = await asyncio.wait_for(talk_then_hang_up(call), 10)
    finally:
        await manager.stop(drain_s=5)
    lost = [e for e in got if e["type"] == "error"]
    assert [(e["code"], e["segment_id"], e["reason"]) for e in lost] == [
        ("final_lost", 1, "closing_timeout")
    ]
    assert "segment 1" in lost[0]["message"]
    assert got[-1]["type"] == "session.closed"
    assert got[-1]["unflushed_segments"] == [1]
    sample = manager.metrics.registry.get_sample_value
    assert sample("mediaserver_finals_lost_total", {"reason": "closing_timeout"}) == 1
    (logged,) = [r for r in records if r["event"] == "call.final_lost"]
    assert logged["segment_id"] == 1
    assert "obrigado" not in repr(records)  # never the text


async def test_latency_histograms_count_each_final(slow_manager: CallManager) -> None:
    call = slow_manager.create(Transport.RTP, {"model": "slow"}, TransportInfo())
    rate = 16000
    sub = call.subscribe()
    audio = np.concatenate([silence(0.3, rate), speech(PHRASES[0], rate), silence(1.2, rate)])
    for i, frame in enumerate(frames(audio, rate)):
        call.feed(frame.tobytes(), rate)
        if i % 10 == 9:
            await asyncio.sleep(0.002)
    got: list[dict[str, Any]] = []
    async for event in sub:
        got.append(event)
        if event["type"] == "transcript.final":
            break
    await call.close()
    sample = slow_manager.metrics.registry.get_sample_value
    assert sample("mediaserver_final_latency_seconds_count") == 1
    # The scripted final takes 3 s after the speech end: the histogram says so.
    total = sample("mediaserver_final_latency_seconds_sum") or 0.0
    assert 3.0 <= total < 5.0


async def test_the_drain_waits_for_in_flight_finals(slow_manager: CallManager) -> None:
    """SIGTERM's path: every call closed through the drainer, whose per-call bound derives
    from the closing timeout; the last words' final still comes."""
    assert slow_manager.drainer.close_timeout_s == 15.0 + CLOSE_MARGIN_S
    call = slow_manager.create(Transport.RTP, {"model": "slow"}, TransportInfo())
    rate = 16000
    sub = call.subscribe()
    audio = np.concatenate([silence(0.3, rate), speech(PHRASES[0], rate)])
    for i, frame in enumerate(frames(audio, rate)):
        call.feed(frame.tobytes(), rate)
        if i % 10 == 9:
            await asyncio.sleep(0.002)
    report = await asyncio.wait_for(slow_manager.drainer.drain(wait=False), 10)
    got = [e async for e in sub]
    assert (report.closed, report.failed) == (1, 0)
    kinds = [e["type"] for e in got]
    assert kinds.count("transcript.final") == 1
    assert "error" not in kinds
    assert got[-1]["reason"] == "shutdown"
