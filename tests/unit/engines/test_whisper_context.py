"""Live utterances encoded on a short window: the rule, the trouble check, and the engine path."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from mediaserver.engines.base import ModelLoadError, TranscribeOptions
from mediaserver.engines.stt import whisper_context
from mediaserver.engines.stt.faster_whisper import FasterWhisperEngine
from mediaserver.engines.stt.whisper_context import context_frames, troubled
from mediaserver.engines.stt.whisper_settings import WhisperSettings
from tests.unit.engines.conftest import noise_utterance

SECOND = 16_000


@pytest.mark.parametrize(
    ("seconds", "minimum", "frames"),
    [
        (3.0, 20.0, 2000),  # short speech: the minimum window
        (16.0, 20.0, 2100),  # longer: the speech and 5 s of silence after it
        (16.005, 20.0, 2102),  # rounded up, and even (the encoder halves it)
        (25.0, 20.0, None),  # would need all 30 s: the whole window
        (3.0, 0.0, None),  # turned off
        (3.0, 10.0, 1000),
    ],
)
def test_the_window_holds_the_speech_and_five_seconds_after_it(
    seconds: float, minimum: float, frames: int | None
) -> None:
    assert context_frames(round(seconds * SECOND), minimum) == frames


@dataclass
class Raw:
    compression_ratio: float = 1.5
    avg_logprob: float = -0.3
    no_speech_prob: float = 0.1


THRESHOLDS: dict[str, float | None] = {
    "no_speech_threshold": 0.6,
    "log_prob_threshold": -1.0,
    "compression_ratio_threshold": 2.4,
}


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        ([Raw()], False),
        ([Raw(), Raw()], False),
        ([], True),  # speech the VAD heard, and no text
        ([Raw(), Raw(compression_ratio=3.1)], True),  # "I'm sorry, I'm sorry, ..."
        ([Raw(avg_logprob=-1.4)], True),
        ([Raw(no_speech_prob=0.7)], True),
    ],
)
def test_trouble_is_any_sign_the_whole_window_would_do_better(
    segments: list[Raw], expected: bool
) -> None:
    assert troubled(segments, **THRESHOLDS) is expected


def test_a_guard_turned_off_is_not_a_sign() -> None:
    off = dict.fromkeys(THRESHOLDS)
    assert troubled([Raw(compression_ratio=9, avg_logprob=-9, no_speech_prob=0.99)], **off) is False


def test_live_context_seconds_comes_from_the_model_config() -> None:
    assert WhisperSettings.from_config({}).live_context_seconds == 20.0
    assert WhisperSettings.from_config({"live_context_seconds": 0}).live_context_seconds == 0.0
    for bad in (-1, "20", True):
        with pytest.raises(ModelLoadError, match="live_context_seconds"):
            WhisperSettings.from_config({"live_context_seconds": bad})


class Spy:
    """The encoder's input widths and the decoder's temperatures, per call."""

    def __init__(self, engine: FasterWhisperEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.frames: list[int] = []
        self.temperatures: list[object] = []
        model = engine._loaded()
        transcribe = model.transcribe

        def spy_transcribe(audio: object, **kwargs: Any) -> Any:
            self.temperatures.append(kwargs.get("temperature"))
            return transcribe(audio, **kwargs)

        monkeypatch.setattr(model, "transcribe", spy_transcribe)
        # On the class, around its own encode: what the encoder is given after the trimming.
        monkeypatch.setattr(type(model), "encode", _wrap(type(model).encode, self.frames))


def _wrap(encode: Any, frames: list[int]) -> Any:
    def spied(self: Any, features: Any) -> Any:
        out = encode(self, features)
        frames.append(2 * out.shape[1])
        return out

    return spied


def _trouble(monkeypatch: pytest.MonkeyPatch, verdict: bool) -> None:
    monkeypatch.setattr(whisper_context, "troubled", lambda segments, **_: verdict)


PT = TranscribeOptions(language="pt")  # a known language: the ladder applies to finals


def test_a_clean_final_is_one_decode_on_the_short_window(
    whisper_engine: FasterWhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(whisper_engine, monkeypatch)
    _trouble(monkeypatch, False)
    whisper_engine.hypothesis(noise_utterance(seconds=2.0), PT, final=True)
    assert spy.temperatures == [0.0]  # the ladder's first temperature only
    assert spy.frames
    assert set(spy.frames) == {2000}


def test_a_troubled_final_is_decoded_again_on_the_whole_window_with_the_ladder(
    whisper_engine: FasterWhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(whisper_engine, monkeypatch)
    _trouble(monkeypatch, True)
    before = whisper_engine.whole_window_redecodes
    whisper_engine.hypothesis(noise_utterance(seconds=2.0), PT, final=True)
    assert spy.temperatures == [0.0, (0.0, 0.2)]
    assert spy.frames[0] == 2000
    assert spy.frames[-1] == 3000
    assert whisper_engine.whole_window_redecodes == before + 1


@pytest.mark.parametrize(
    ("segments", "kept"), [([Raw(avg_logprob=-1.5)], True), ([Raw(compression_ratio=3.0)], False)]
)
def test_a_partial_is_never_redone_and_dropped_only_when_it_loops(
    whisper_engine: FasterWhisperEngine,
    monkeypatch: pytest.MonkeyPatch,
    segments: list[Raw],
    kept: bool,
) -> None:
    """Unsure words are normal a moment into a word; a repetition loop is the short window's
    failure, and the next partial is half a second away."""
    spy = Spy(whisper_engine, monkeypatch)
    real = whisper_context.troubled
    verdicts: list[bool] = []

    def judged(found: Any, **thresholds: Any) -> bool:
        verdicts.append(real(segments, **thresholds))  # the engine's thresholds, on `segments`
        return verdicts[-1]

    monkeypatch.setattr(whisper_context, "troubled", judged)
    hypothesis = whisper_engine.hypothesis(noise_utterance(seconds=2.0), PT, final=False)
    assert verdicts == [not kept]
    # The tiny model always says something about noise: kept, it shows.
    assert bool(hypothesis.text) is kept
    assert set(spy.frames) == {2000}
    assert spy.temperatures == [0.0]


def test_turned_off_and_files_use_the_whole_window(
    whisper_engine: FasterWhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(whisper_engine, monkeypatch)
    _trouble(monkeypatch, False)
    whisper_engine.transcribe_file(noise_utterance(seconds=2.0), PT)
    assert set(spy.frames) == {3000}
    settings = replace(whisper_engine._settings, live_context_seconds=0.0)
    monkeypatch.setattr(whisper_engine, "_settings", settings)
    spy.frames.clear()
    whisper_engine.hypothesis(noise_utterance(seconds=2.0), PT, final=True)
    assert set(spy.frames) == {3000}


def test_the_window_is_set_per_thread(whisper_engine: FasterWhisperEngine) -> None:
    """A worker's batch decodes run on other threads than its live ones: one thread's short
    window must not reach the other's encoder."""
    model = whisper_engine._loaded()
    features = np.zeros((1, 80, 3000), dtype=np.float32)
    seen: list[int] = []
    with model.context(1000):
        other = threading.Thread(target=lambda: seen.append(model.encode(features).shape[1]))
        other.start()
        other.join()
        seen.append(model.encode(features).shape[1])
    seen.append(model.encode(features).shape[1])
    assert seen == [1500, 500, 1500]
