"""The espeak-ng engine: real libespeak-ng through ctypes, pt-BR by default."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from mediaserver.engines.base import ModelInfo, ModelLoadError
from mediaserver.engines.tts import create_tts_engine, espeak
from mediaserver.engines.tts.base import NotLoadedError, Pcm16, TtsEngine, UnknownVoiceError
from mediaserver.engines.tts.espeak import EspeakEngine, bcp47

SENTENCE = "Bom dia, aqui é do seu banco."
MULTI = "Olá, bom dia. Seu saldo é de mil reais. Posso ajudar em mais alguma coisa?"


def espeak_model(**config: object) -> ModelInfo:
    return ModelInfo("espeak-ng", Path("/nonexistent/espeak-ng"), "espeak-ng", config)


@pytest.fixture(scope="module")
def engine() -> TtsEngine:
    engine = create_tts_engine("espeak-ng")
    engine.load(espeak_model(voice="pt-br", sample_rate=22050))
    return engine


def say(engine: TtsEngine, text: str, voice: str = "pt-br", speed: float = 1.0) -> Pcm16:
    return np.concatenate(list(engine.synthesize(text, voice, speed)))


def rms_dbfs(pcm: Pcm16) -> float:
    return float(10 * np.log10(np.mean(pcm.astype(np.float64) ** 2) / 32768.0**2 + 1e-12))


def test_pt_br_speech_is_loud_and_of_plausible_length(engine: TtsEngine) -> None:
    pcm = say(engine, SENTENCE)
    assert pcm.dtype == np.int16
    assert pcm.ndim == 1
    assert engine.sample_rate == 22050
    seconds = len(pcm) / engine.sample_rate
    assert 0.25 * 6 <= seconds <= 0.7 * 6  # six words at ~175 words per minute, plus pauses
    assert rms_dbfs(pcm) > -30.0


def test_speed_changes_duration(engine: TtsEngine) -> None:
    normal = len(say(engine, SENTENCE))
    fast = len(say(engine, SENTENCE, speed=2.0))
    slow = len(say(engine, SENTENCE, speed=0.5))
    assert fast < 0.75 * normal
    assert slow > 1.3 * normal


def test_multi_clause_text_streams_one_chunk_per_clause(
    engine: TtsEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthesized: list[str] = []
    real = espeak._Library.synth

    def counting(self: espeak._Library, text: str, identifier: bytes, wpm: int) -> Pcm16:
        synthesized.append(text)
        return real(self, text, identifier, wpm)

    monkeypatch.setattr(espeak._Library, "synth", counting)
    chunks = engine.synthesize(MULTI, "pt-br")
    first = next(chunks)
    assert synthesized == ["Olá, bom dia."]  # the rest is not synthesized yet
    rest = list(chunks)
    assert len(synthesized) == 3
    assert len(rest) == 2
    assert rms_dbfs(first) > -30.0


def test_voices_list_every_espeak_voice_with_pt_br(engine: TtsEngine) -> None:
    voices = {v.id: v for v in engine.voices()}
    assert len(voices) > 50
    assert voices["pt-br"].language == "pt-BR"
    assert voices["pt-br"].engine == "espeak-ng"
    assert voices["pt"].language == "pt"
    # espeak-ng's language voices declare no gender: not known, never guessed.
    assert {v.gender for v in voices.values()} == {"unknown"}
    assert all(len(say(engine, "um", v)) > 1000 for v in ("en-us", "es"))


def test_an_empty_voice_is_the_default_voice(engine: TtsEngine) -> None:
    assert len(say(engine, SENTENCE, "")) == pytest.approx(len(say(engine, SENTENCE)), rel=0.01)


def test_voices_sound_different(engine: TtsEngine) -> None:
    assert not np.array_equal(say(engine, "Bom dia"), say(engine, "Bom dia", "pt"))


def test_unknown_voice_lists_valid_ones(engine: TtsEngine) -> None:
    with pytest.raises(UnknownVoiceError, match=r"'xx-yy'.*valid voices: .*af") as info:
        engine.synthesize(SENTENCE, "xx-yy")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text_is_refused(engine: TtsEngine, text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        engine.synthesize(text, "pt-br")


@pytest.mark.parametrize("speed", [0.0, 0.49, 2.01, float("nan"), True])
def test_speed_out_of_range_is_refused(engine: TtsEngine, speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        engine.synthesize(SENTENCE, "pt-br", speed)


def test_resampled_output_keeps_the_duration() -> None:
    engine = EspeakEngine()
    engine.load(espeak_model(sample_rate=8000))
    assert engine.sample_rate == 8000
    native = EspeakEngine()
    native.load(espeak_model())
    ratio = len(say(engine, SENTENCE)) / len(say(native, SENTENCE))
    assert ratio == pytest.approx(8000 / 22050, rel=0.01)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"voice": "klingon"}, "unknown espeak-ng voice 'klingon'"),
        ({"voice": 3}, "voice"),
        ({"sample_rate": 1000}, "sample_rate"),
        ({"sample_rate": True}, "sample_rate"),
    ],
)
def test_bad_config_is_a_load_error(config: dict[str, object], message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        EspeakEngine().load(espeak_model(**config))


def test_not_loaded_and_unloaded_engines_refuse_work() -> None:
    engine = EspeakEngine()
    with pytest.raises(NotLoadedError):
        engine.voices()
    engine.load(espeak_model())
    assert engine.health()["loaded"] is True
    engine.unload()
    assert engine.health()["loaded"] is False
    with pytest.raises(NotLoadedError):
        engine.synthesize(SENTENCE, "pt-br")


def test_threads_do_not_see_each_others_voice_or_rate(engine: TtsEngine) -> None:
    jobs = [("pt-br", 1.0), ("en-us", 1.0), ("pt-br", 2.0), ("es", 0.5)] * 2
    expected = [say(engine, MULTI, voice, speed) for voice, speed in jobs]
    results: list[Pcm16 | None] = [None] * len(jobs)

    def run(i: int) -> None:
        results[i] = say(engine, MULTI, *jobs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # espeak-ng varies a clause by a few samples from run to run; another thread's voice or rate
    # would change it by tens of percent.
    for got, want in zip(results, expected, strict=True):
        assert got is not None
        assert len(got) == pytest.approx(len(want), rel=0.01)


@pytest.mark.parametrize(
    ("tag", "bcp"), [("pt-br", "pt-BR"), ("pt", "pt"), ("en-gb-x-rp", "en-GB-x-rp"), ("yue", "yue")]
)
def test_bcp47(tag: str, bcp: str) -> None:
    assert bcp47(tag) == bcp


def test_unknown_engine_name() -> None:
    with pytest.raises(ValueError, match="known engines: espeak-ng, kokoro"):
        create_tts_engine("festival")
