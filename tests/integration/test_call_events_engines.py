"""Calls transcribed by the real engines running tiny random-weight models.

The text is gibberish (random weights); what is checked is the event stream: its shapes, the
order partial* -> final per segment, increasing segment ids, no duplicates, and recovery after
an engine failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediaserver.audio.silero import SileroModel
from mediaserver.calls.manager import Call, CallManager, Transport, TransportInfo
from mediaserver.calls.postprocess import ThreadedPostprocess
from mediaserver.calls.recognizers import (
    LocalRecognizers,
    RecognizerStream,
    SpeechRecognizer,
)
from mediaserver.calls.worker_recognizers import WorkerRecognizers
from mediaserver.config import Settings
from mediaserver.domain.normalizer import Normalizer
from mediaserver.domain.pipeline import Postprocessor
from mediaserver.engines.base import Audio, Hypothesis, TranscribeOptions
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.supervision.build import registry_resolver
from mediaserver.engines.supervision.spec import WorkerStatus
from mediaserver.engines.supervision.supervisor import Supervisor
from mediaserver.observability import Metrics
from tests.call_audio import PHRASES, Pcm, frames, silence, speech
from tests.integration.workers_support import FAST, kill9
from tests.tiny_models import build_tiny_wenet_ctc, build_tiny_whisper

pytestmark = [pytest.mark.needs_espeak, pytest.mark.slow]

FINAL_KEYS = [
    "type",
    "call_id",
    "segment_id",
    "text",
    "raw_text",
    "entities",
    "start_ms",
    "end_ms",
    "language",
    "confidence",
    "audio_ms",
]


@pytest.fixture(scope="module")
def silero() -> SileroModel:
    return SileroModel()


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        "faster-whisper": build_tiny_whisper(root / "tiny-whisper"),
        "wenet-ctc": build_tiny_wenet_ctc(root / "tiny-wenet"),
    }


@pytest.fixture
def registry(settings: Settings, tiny_sources: dict[str, Path]) -> Registry:
    registry = Registry.from_settings(settings)
    registry.import_dir(
        tiny_sources["faster-whisper"], name="tiny-whisper", engine="faster-whisper"
    )
    registry.import_dir(tiny_sources["wenet-ctc"], name="tiny-wenet", engine="wenet-ctc")
    return registry


@pytest.fixture
async def manager(
    settings: Settings, silero: SileroModel, registry: Registry
) -> AsyncIterator[CallManager]:
    calls = CallManager(
        settings, Metrics(), LocalRecognizers(registry), offline_postprocess(), vad_model=silero
    )
    await calls.start()
    try:
        yield calls
    finally:
        await calls.stop(drain_s=30)


def offline_postprocess() -> ThreadedPostprocess:
    """The real pipeline without NeMo (its grammars take long to build on a test machine)."""
    return ThreadedPostprocess(lambda: Postprocessor(Normalizer(None, use_nemo=False)))


def conversation(rate: int) -> Pcm:
    parts: list[Pcm] = [silence(0.5, rate)]
    for text in PHRASES:
        parts += [speech(text, rate), silence(1.2, rate)]
    return np.concatenate(parts)


async def talk(call: Call, pcm: Pcm, rate: int) -> list[dict[str, Any]]:
    sub = call.subscribe()
    for i, frame in enumerate(frames(pcm, rate)):
        call.feed(frame.tobytes(), rate)
        if i % 10 == 9:
            await asyncio.sleep(0.005)
    await asyncio.wait_for(call.close("hangup"), 60)
    return [item async for item in sub]


def check_transcripts(events: list[dict[str, Any]], segments: int) -> None:
    """partial* -> final per segment, ids 1..n in order, each final once, shapes right."""
    transcripts = [e for e in events if e["type"].startswith("transcript.")]
    finals = [e for e in transcripts if e["type"] == "transcript.final"]
    assert [f["segment_id"] for f in finals] == list(range(1, segments + 1))
    current = 1
    for item in transcripts:
        assert item["segment_id"] == current
        if item["type"] == "transcript.final":
            current += 1
    for final in finals:
        assert list(final) == FINAL_KEYS
        assert isinstance(final["text"], str)
        assert isinstance(final["raw_text"], str)
        assert isinstance(final["entities"], list)
        assert 0 <= final["start_ms"] < final["end_ms"] == final["audio_ms"]
    for earlier, later in itertools.pairwise(finals):
        assert earlier["end_ms"] <= later["start_ms"]
    # Finals never arrive before the speech end that committed them.
    kinds = [e["type"] for e in events]
    ends = [i for i, k in enumerate(kinds) if k == "vad.speech_end"]
    finals_at = [i for i, k in enumerate(kinds) if k == "transcript.final"]
    assert all(f > e for f, e in zip(finals_at, ends, strict=True))
    assert kinds[-1] == "session.closed"
    assert "error" not in kinds


@pytest.mark.parametrize(("model", "rate"), [("tiny-whisper", 16000), ("tiny-wenet", 8000)])
async def test_transcripts_per_segment(manager: CallManager, model: str, rate: int) -> None:
    options = {"model": model, "language": "pt", "timeouts": {"closing_s": 60}}
    call = manager.create(Transport.RTP, options, TransportInfo())
    events = await talk(call, conversation(rate), rate)
    check_transcripts(events, len(PHRASES))
    finals = [e for e in events if e["type"] == "transcript.final"]
    assert all(f["language"] == "pt" for f in finals)
    if model == "tiny-wenet":
        # CTC: native partials (the tiny head emits tokens on sound), word probabilities.
        assert any(e["type"] == "transcript.partial" for e in events)
        assert all(isinstance(f["confidence"], float) for f in finals if f["text"])


class _FailingOnce:
    """The real recognizer, except that the first final of the call raises."""

    def __init__(self, inner: LocalRecognizers) -> None:
        self.inner = inner
        self.failures = 0

    async def get(self, model: str) -> SpeechRecognizer:
        return _Wrapped(await self.inner.get(model), self)

    def require(self, model: str) -> None:
        self.inner.require(model)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Wrapped:
    def __init__(self, inner: SpeechRecognizer, owner: _FailingOnce) -> None:
        self.name = inner.name
        self.architecture = inner.architecture
        self.capabilities = inner.capabilities
        self._inner = inner
        self._owner = owner

    async def open_stream(self, options: TranscribeOptions) -> RecognizerStream:
        return _Stream(await self._inner.open_stream(options), self._owner)


class _Stream:
    def __init__(self, inner: RecognizerStream, owner: _FailingOnce) -> None:
        self._inner = inner
        self._owner = owner

    async def accept(self, audio: Audio) -> Hypothesis:
        return await self._inner.accept(audio)

    async def finish(self, audio: Audio | None = None) -> Hypothesis:
        if self._owner.failures == 0:
            self._owner.failures += 1
            raise ConnectionResetError("worker died")
        return await self._inner.finish(audio)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_engine_failure_is_recovered_without_duplicates(
    settings: Settings, silero: SileroModel, registry: Registry
) -> None:
    failing = _FailingOnce(LocalRecognizers(registry))
    manager = CallManager(settings, Metrics(), failing, offline_postprocess(), vad_model=silero)
    await manager.start()
    try:
        options = {"model": "tiny-wenet", "timeouts": {"closing_s": 60}}
        call = manager.create(Transport.WEBSOCKET, options, TransportInfo())
        events = await talk(call, conversation(16000), 16000)
    finally:
        await manager.stop(drain_s=30)
    assert failing.failures == 1
    errors = [e for e in events if e["type"] == "error"]
    assert [(e["code"], e["recoverable"]) for e in errors] == [("engine_error", True)]
    check_transcripts([e for e in events if e["type"] != "error"], len(PHRASES))


WORKER_OPTIONS = dataclasses.replace(FAST, start_timeout_s=60)


async def test_transcripts_from_a_worker_process_survive_its_crash(
    settings: Settings, silero: SileroModel, registry: Registry
) -> None:
    """The tiny WeNet model in a real worker process; the worker is killed mid-call."""
    rate = 8000
    async with Supervisor(registry_resolver(registry), WORKER_OPTIONS) as supervisor:
        engines = WorkerRecognizers(supervisor, registry)
        manager = CallManager(settings, Metrics(), engines, offline_postprocess(), vad_model=silero)
        await manager.start()
        try:
            options = {"model": "tiny-wenet", "timeouts": {"closing_s": 60}}
            call = manager.create(Transport.RTP, options, TransportInfo())
            sub = call.subscribe()
            first = np.concatenate([silence(0.5, rate), speech(PHRASES[0], rate)])
            second = np.concatenate([silence(1.2, rate), speech(PHRASES[1], rate)])
            await feed(call, first, rate)
            await feed(call, second[: len(second) // 2], rate)
            # Wait for the worker to be streaming the second utterance, then kill it.
            status = await _wait_for_stream(supervisor, "tiny-wenet")
            assert status.pid is not None
            kill9(status.pid)
            await feed(call, np.concatenate([second[len(second) // 2 :], silence(1.2, rate)]), rate)
            await asyncio.wait_for(call.close("hangup"), 90)
            events = [item async for item in sub]
        finally:
            await manager.stop(drain_s=30)
        restarts = supervisor.workers()[0].restarts
    errors = [e for e in events if e["type"] == "error"]
    assert [(e["code"], e["recoverable"]) for e in errors] == [("engine_error", True)]
    check_transcripts([e for e in events if e["type"] != "error"], len(PHRASES))
    assert restarts == 1


async def _wait_for_stream(supervisor: Supervisor, model: str) -> WorkerStatus:
    for _ in range(600):
        workers = supervisor.workers()
        if workers and workers[0].state == "ready" and workers[0].in_flight > 0:
            return workers[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the worker never got a stream")


async def feed(call: Call, pcm: Pcm, rate: int) -> None:
    for i, frame in enumerate(frames(pcm, rate)):
        call.feed(frame.tobytes(), rate)
        if i % 10 == 9:
            await asyncio.sleep(0.005)
