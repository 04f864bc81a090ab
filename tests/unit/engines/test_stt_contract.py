"""The same requests against both engines get responses of the same shape."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mediaserver.engines.base import (
    Architecture,
    Hypothesis,
    Segment,
    SttEngine,
    TranscribeOptions,
    Transcript,
)
from mediaserver.engines.stt import ENGINES, create_engine
from tests.unit.engines.conftest import noise_utterance

OPTIONS = TranscribeOptions(temperature=0.0, beam_size=2)


@pytest.fixture(params=["faster-whisper", "wenet-ctc"])
def engine(request: pytest.FixtureRequest) -> SttEngine:
    fixture = "whisper_engine" if request.param == "faster-whisper" else "wenet_engine"
    loaded: SttEngine = request.getfixturevalue(fixture)
    return loaded


def test_transcript_shape(engine: SttEngine) -> None:
    audio = noise_utterance()
    transcript = engine.transcribe_file(audio, OPTIONS)
    assert isinstance(transcript, Transcript)
    assert transcript.duration == pytest.approx(len(audio) / 16_000)
    assert isinstance(transcript.language, str)
    assert transcript.language
    assert transcript.segments, "the tiny models always say something about noise"
    assert transcript.text == " ".join(segment.text for segment in transcript.segments)
    for index, segment in enumerate(transcript.segments):
        assert isinstance(segment, Segment)
        assert segment.id == index
        assert 0.0 <= segment.start <= segment.end <= transcript.duration
        assert segment.text == segment.text.strip()


def test_progress_reaches_the_total(engine: SttEngine) -> None:
    audio = noise_utterance()
    calls: list[tuple[float, float]] = []
    engine.transcribe_file(audio, OPTIONS, progress=lambda done, total: calls.append((done, total)))
    total = len(audio) / 16_000
    assert calls
    assert calls[-1] == pytest.approx((total, total))
    done = [c[0] for c in calls]
    assert done == sorted(done)
    assert all(t == pytest.approx(total) for _, t in calls)


def test_stream_gives_partials_then_a_final(engine: SttEngine) -> None:
    audio = noise_utterance(seconds=2.5)
    stream = engine.open_stream(OPTIONS)
    partials = [stream.accept(audio[i : i + 8_000]) for i in range(0, len(audio), 8_000)]
    assert all(isinstance(h, Hypothesis) and not h.is_final for h in partials)
    assert partials[-1].text, "after 3 s of loud noise the partial is not empty"
    final = stream.finish()
    assert final.is_final
    assert final.text
    with pytest.raises(ValueError, match="finished"):
        stream.accept(audio[:1600])


def test_empty_stream_finishes_empty(engine: SttEngine) -> None:
    final = engine.open_stream(OPTIONS).finish()
    assert final.is_final
    assert final.text == ""


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(16_000, dtype=np.int16), "float32"),
        (np.zeros((2, 16_000), dtype=np.float32), "mono"),
        (np.full(16_000, np.nan, dtype=np.float32), "NaN"),
    ],
)
def test_bad_audio_is_a_value_error(engine: SttEngine, audio: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        engine.transcribe_file(audio, OPTIONS)
    stream = engine.open_stream(OPTIONS)
    with pytest.raises(ValueError, match=message):
        stream.accept(audio)
    assert stream.finish().text == ""  # the bad chunk changed nothing


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_unloaded_engine_refuses_work(name: str) -> None:
    engine = create_engine(name)
    assert engine.health()["loaded"] is False
    with pytest.raises(RuntimeError, match="load"):
        engine.transcribe_file(noise_utterance(), OPTIONS)


def test_health_reports_the_loaded_model(engine: SttEngine) -> None:
    health = engine.health()
    assert health["loaded"] is True
    assert health["model"] in ("tiny-whisper", "tiny-wenet")


def test_architectures() -> None:
    assert create_engine("faster-whisper").architecture is Architecture.ENCODER_DECODER
    assert create_engine("wenet-ctc").architecture is Architecture.CTC
    assert create_engine("wenet-ctc").capabilities.native_partials
    assert not create_engine("faster-whisper").capabilities.native_partials


def test_unknown_engine_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="faster-whisper, wenet-ctc"):
        create_engine("paraformer")


def test_engine_libraries_load_only_on_demand() -> None:
    code = (
        "import sys, mediaserver.engines.stt as s, mediaserver.engines.base;"
        "heavy = {'ctranslate2', 'faster_whisper', 'sherpa_onnx', 'onnxruntime'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
