"""CallTranscriber's speculative finals: decoded before speech_end, used only on their exact
span, never waiting behind the partial in flight. A scripted recognizer: only order and
timing matter here."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from mediaserver.calls import transcriber as transcriber_module
from mediaserver.calls.postprocess import PassThrough
from mediaserver.calls.recognizers import RecognizerStream, SpeechRecognizer
from mediaserver.calls.transcriber import CallTranscriber
from mediaserver.config import Settings
from mediaserver.engines.base import (
    Architecture,
    Audio,
    Capabilities,
    Hypothesis,
    TranscribeOptions,
)
from mediaserver.engines.errors import EngineOverloadedError
from mediaserver.session.call_core import (
    DropSpeculation,
    FinishSegment,
    SpeculateFinal,
    StreamAudio,
)
from mediaserver.session.call_options import parse_call_options
from mediaserver.session.events import CommitSegment

CHUNK = np.zeros(1600, np.int16)


class Scripted:
    """Finals say how much audio they were given; a partial may be held by a gate."""

    name = "scripted"
    architecture = Architecture.CTC
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.finishes: list[int] = []  # samples each final decode was given
        self.partial_gate: asyncio.Event | None = None
        self.overloaded = False

    async def open_stream(self, options: TranscribeOptions) -> RecognizerStream:
        return _Stream(self)


class _Stream:
    def __init__(self, owner: Scripted) -> None:
        self.owner = owner
        self.samples = 0

    async def accept(self, audio: Audio) -> Hypothesis:
        self.samples += len(audio)
        if self.owner.partial_gate is not None:
            await self.owner.partial_gate.wait()
        return Hypothesis(f"partial {self.samples}")

    async def finish(self, audio: Audio | None = None) -> Hypothesis:
        if self.owner.overloaded:
            raise EngineOverloadedError("engine overloaded: 3 finals are already waiting")
        self.samples += 0 if audio is None else len(audio)
        self.owner.finishes.append(self.samples)
        await asyncio.sleep(0)
        return Hypothesis(f"final {self.samples}", is_final=True, language="pt")

    async def aclose(self) -> None:
        return None


class _Recognizers:
    def __init__(self, recognizer: Scripted) -> None:
        self.recognizer = recognizer

    async def get(self, model: str) -> SpeechRecognizer:
        return self.recognizer

    async def aclose(self) -> None:
        return None


def transcriber(
    recognizer: Scripted, language: str | None = "en"
) -> tuple[CallTranscriber, list[dict[str, Any]], list[int]]:
    events: list[dict[str, Any]] = []
    acked: list[int] = []
    options = parse_call_options({"model": "scripted", "language": language}, Settings())
    t = CallTranscriber(
        "c1",
        options,
        _Recognizers(recognizer),
        PassThrough(),
        publish=lambda item, sticky=False: events.append(item),
        ack=acked.append,
        recover=list,
        crashed=lambda exc: None,
    )
    t.start()
    return t, events, acked


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def finals(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e["type"] == "transcript.final"]


async def test_a_final_speculated_on_its_exact_span_is_the_final() -> None:
    recognizer = Scripted()
    t, events, acked = transcriber(recognizer)
    await settle()
    span = np.zeros(8000, np.int16)
    t.submit(StreamAudio(1, 0, 0, CHUNK))
    t.submit(SpeculateFinal(0, 8000, span))
    await settle()
    assert recognizer.finishes == [8000]  # decoded before the segment was committed
    t.submit(FinishSegment(CommitSegment(1, 0, 8000), 1600, span[1600:], False))
    await settle()
    assert finals(events) == ["final 8000"]
    assert recognizer.finishes == [8000]  # not decoded a second time
    assert acked == [1]
    assert t.speculations_used == 1
    await t.aclose()


async def test_a_speculation_on_another_span_or_dropped_is_not_used() -> None:
    recognizer = Scripted()
    t, events, acked = transcriber(recognizer)
    await settle()
    t.submit(StreamAudio(1, 0, 0, CHUNK))
    t.submit(SpeculateFinal(0, 4800, np.zeros(4800, np.int16)))
    await settle()
    # Speech went on: the segment ends later than the speculation's span.
    t.submit(FinishSegment(CommitSegment(1, 0, 8000), 1600, np.zeros(6400, np.int16), False))
    await settle()
    assert finals(events) == ["final 8000"]
    # A dropped speculation is not used either, even on the same span.
    t.submit(StreamAudio(2, 16000, 16000, CHUNK))
    t.submit(SpeculateFinal(16000, 20000, np.zeros(4000, np.int16)))
    t.submit(DropSpeculation(16000))
    await settle()
    t.submit(FinishSegment(CommitSegment(2, 16000, 20000), 17600, np.zeros(2400, np.int16), False))
    await settle()
    assert finals(events) == ["final 8000", "final 4000"]
    assert acked == [1, 2]
    assert t.speculations_used == 0
    await t.aclose()


async def test_the_final_does_not_wait_for_the_partial_in_flight() -> None:
    recognizer = Scripted()
    recognizer.partial_gate = asyncio.Event()  # the partial never answers on its own
    t, events, acked = transcriber(recognizer)
    await settle()
    span = np.zeros(8000, np.int16)
    t.submit(StreamAudio(1, 0, 0, CHUNK))
    await settle()
    t.submit(SpeculateFinal(0, 8000, span))
    t.submit(FinishSegment(CommitSegment(1, 0, 8000), 1600, span[1600:], False))
    for _ in range(200):  # a bounded number of loop turns, not a time
        if acked:
            break
        await asyncio.sleep(0)
    assert acked == [1]
    assert finals(events) == ["final 8000"]
    assert not [e for e in events if e["type"] == "error"]
    await t.aclose()


async def test_a_final_the_engine_refuses_is_an_overloaded_error_and_the_call_goes_on() -> None:
    recognizer = Scripted()
    recognizer.overloaded = True
    t, events, acked = transcriber(recognizer)
    await settle()
    t.submit(FinishSegment(CommitSegment(1, 0, 8000), 0, np.zeros(8000, np.int16), True))
    await settle()
    errors = [e for e in events if e["type"] == "error"]
    assert [(e["code"], e["recoverable"], e["segment_id"]) for e in errors] == [
        ("overloaded", True, 1)
    ]
    assert acked == [1]  # not retried: that would only add load
    recognizer.overloaded = False
    t.submit(FinishSegment(CommitSegment(2, 9000, 17000), 9000, np.zeros(8000, np.int16), True))
    await settle()
    assert finals(events) == ["final 8000"]
    await t.aclose()


async def test_the_next_utterance_speculating_does_not_cancel_a_final_not_read_yet() -> None:
    """The queue may be behind: utterance B's speculation starts before A's final is read."""
    recognizer = Scripted()
    recognizer.partial_gate = asyncio.Event()  # the queue is stuck on A's partial
    t, events, acked = transcriber(recognizer)
    await settle()
    t.submit(StreamAudio(1, 0, 0, CHUNK))
    t.submit(SpeculateFinal(0, 8000, np.zeros(8000, np.int16)))
    await settle()
    t.submit(SpeculateFinal(16000, 20000, np.zeros(4000, np.int16)))
    await settle()
    recognizer.partial_gate.set()
    t.submit(FinishSegment(CommitSegment(1, 0, 8000), 1600, np.zeros(6400, np.int16), False))
    t.submit(FinishSegment(CommitSegment(2, 16000, 20000), 16000, np.zeros(4000, np.int16), True))
    await settle()
    assert finals(events) == ["final 8000", "final 4000"]
    assert t.speculations_used == 1  # A's; B's final was fresh (its span given whole)
    assert recognizer.finishes == [8000, 4000, 4000]
    assert acked == [1, 2]
    await t.aclose()


async def test_a_final_left_undecoded_too_long_is_an_overloaded_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past MAX_FINAL_AGE_S after its commit a final is not decoded (an `overloaded` error
    instead): lag stays bounded. A speculative decode already made is still used."""
    monkeypatch.setattr(transcriber_module, "MAX_FINAL_AGE_S", -1.0)  # every final is late
    recognizer = Scripted()
    t, events, acked = transcriber(recognizer)
    await settle()
    t.submit(StreamAudio(1, 0, 0, CHUNK))
    t.submit(FinishSegment(CommitSegment(1, 0, 8000), 1600, np.zeros(6400, np.int16), False))
    t.submit(SpeculateFinal(9000, 17000, np.zeros(8000, np.int16)))
    t.submit(FinishSegment(CommitSegment(2, 9000, 17000), 9000, np.zeros(8000, np.int16), False))
    await settle()
    errors = [(e["code"], e["segment_id"]) for e in events if e["type"] == "error"]
    assert errors == [("overloaded", 1)]
    assert finals(events) == ["final 8000"]  # segment 2's speculation
    assert acked == [1, 2]
    await t.aclose()


@pytest.mark.parametrize(("named", "reported"), [(None, "pt"), ("en", "en")])
async def test_a_final_says_the_language_the_engine_detected_when_the_call_named_none(
    named: str | None, reported: str
) -> None:
    recognizer = Scripted()
    t, events, _ = transcriber(recognizer, language=named)
    await settle()
    span = np.zeros(8000, np.int16)
    t.submit(StreamAudio(1, 0, 0, CHUNK))
    t.submit(FinishSegment(CommitSegment(1, 0, 8000), 1600, span[1600:], False))
    await settle()
    (final,) = [e for e in events if e["type"] == "transcript.final"]
    assert final["language"] == reported
    await t.aclose()
