from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mediaserver.engines.base import ModelLoadError, Segment, SttEngine, TranscribeOptions
from mediaserver.engines.stt import create_engine
from mediaserver.engines.stt.faster_whisper import FasterWhisperEngine
from mediaserver.engines.stt.whisper_settings import WhisperSettings, looks_hallucinated
from tests.tiny_models import WHISPER_LANGUAGES
from tests.unit.engines.conftest import model_info, noise_utterance

GREEDY = TranscribeOptions(temperature=0.0, beam_size=2)


def whole_window(engine: FasterWhisperEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live decodes on Whisper's 30 s window only (the short window is test_whisper_context's)."""
    monkeypatch.setattr(engine, "_settings", replace(engine._settings, live_context_seconds=0.0))


def texts(engine: SttEngine, options: TranscribeOptions) -> list[str]:
    return [s.text for s in engine.transcribe_file(noise_utterance(), options).segments]


def test_capabilities() -> None:
    caps = FasterWhisperEngine.capabilities
    assert caps.hot_words
    assert caps.initial_prompt
    assert caps.translation
    assert caps.language_detection
    assert caps.word_timestamps


def test_detects_the_language_when_none_is_given(whisper_engine: SttEngine) -> None:
    transcript = whisper_engine.transcribe_file(noise_utterance(), GREEDY)
    assert transcript.language in WHISPER_LANGUAGES
    assert 0.0 < transcript.language_probability <= 1.0


def test_live_hypotheses_say_their_language(whisper_engine: FasterWhisperEngine) -> None:
    """A live call that names no language gets the detected one on its finals."""
    audio = noise_utterance(seconds=1.0)
    detected = whisper_engine.hypothesis(audio, TranscribeOptions(language=None), final=True)
    assert detected.language in WHISPER_LANGUAGES
    given = whisper_engine.hypothesis(audio, TranscribeOptions(language="pt"), final=False)
    assert given.language == "pt"


def test_given_language_is_used(whisper_engine: SttEngine) -> None:
    options = TranscribeOptions(language="pt", temperature=0.0, beam_size=2)
    assert whisper_engine.transcribe_file(noise_utterance(), options).language == "pt"


def test_unknown_language_is_a_value_error(whisper_engine: SttEngine) -> None:
    with pytest.raises(ValueError, match="'xx'"):
        whisper_engine.transcribe_file(noise_utterance(), TranscribeOptions(language="xx"))


def test_translate_task_reaches_the_decoder(whisper_engine: SttEngine) -> None:
    base = TranscribeOptions(language="pt", temperature=0.0, beam_size=2)
    translated = TranscribeOptions(language="pt", task="translate", temperature=0.0, beam_size=2)
    # The task token changes the decoder's prompt, so a random model says something else.
    assert texts(whisper_engine, translated) != texts(whisper_engine, base)


def test_hot_words_and_prompt_reach_the_decoder(whisper_engine: SttEngine) -> None:
    plain = texts(whisper_engine, GREEDY)
    hot = TranscribeOptions(hot_words=("PIX", "Selic"), temperature=0.0, beam_size=2)
    prompted = TranscribeOptions(prompt="bom dia, banco", temperature=0.0, beam_size=2)
    assert texts(whisper_engine, hot) != plain
    assert texts(whisper_engine, prompted) != plain


def test_word_timestamps(whisper_engine: SttEngine) -> None:
    options = TranscribeOptions(word_timestamps=True, temperature=0.0, beam_size=2)
    transcript = whisper_engine.transcribe_file(noise_utterance(), options)
    words = [word for segment in transcript.segments for word in segment.words]
    assert words
    for word in words:
        assert 0.0 <= word.start <= word.end <= transcript.duration
        assert 0.0 <= word.probability <= 1.0
        assert word.word == word.word.strip()
        assert word.word
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    assert all(
        not s.words for s in whisper_engine.transcribe_file(noise_utterance(), GREEDY).segments
    )


def test_batched_long_file_covers_every_window(whisper_engine: SttEngine) -> None:
    audio = noise_utterance(seconds=33.0)
    seen: list[float] = []
    options = TranscribeOptions(batched=True, batch_size=2, temperature=0.0, beam_size=1)
    transcript = whisper_engine.transcribe_file(audio, options, lambda d, _t: seen.append(d))
    assert transcript.duration == pytest.approx(len(audio) / 16_000)
    assert any(segment.start >= 30.0 for segment in transcript.segments)
    assert seen[-1] == pytest.approx(transcript.duration)


def test_stream_redecodes_only_after_enough_new_audio(
    whisper_engine: SttEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(whisper_engine, FasterWhisperEngine)
    calls: list[int] = []
    original = whisper_engine.hypothesis

    def counting(audio, options, *, final):  # type: ignore[no-untyped-def]
        calls.append(len(audio))
        return original(audio, options, final=final)

    monkeypatch.setattr(whisper_engine, "hypothesis", counting)
    stream = whisper_engine.open_stream(GREEDY)
    audio = noise_utterance(seconds=1.4)  # 2.0 s in all, fed as 0.2 s chunks
    hypotheses = [stream.accept(audio[i : i + 3_200]) for i in range(0, len(audio), 3_200)]
    # Default step 0.5 s: a decode every third 0.2 s chunk; the others repeat the last result.
    assert calls == [9_600, 19_200, 28_800]
    assert hypotheses[3] is hypotheses[4]
    stream.finish()
    assert calls[-1] == len(audio)


@pytest.mark.parametrize(
    ("no_speech", "logprob", "dropped"),
    [(0.9, -1.5, True), (0.9, -0.5, False), (0.1, -1.5, False), (0.61, -1.01, True)],
)
def test_hallucination_guard(no_speech: float, logprob: float, dropped: bool) -> None:
    segment = Segment(0, 0.0, 1.0, "obrigado", avg_logprob=logprob, no_speech_prob=no_speech)
    assert looks_hallucinated(segment, WhisperSettings()) is dropped
    off = WhisperSettings(no_speech_threshold=None)
    assert looks_hallucinated(segment, off) is False


def test_settings_from_manifest_config() -> None:
    settings = WhisperSettings.from_config(
        {"compute_type": "float32", "log_prob_threshold": -2, "no_speech_threshold": None}
    )
    assert settings.compute_type == "float32"
    assert settings.log_prob_threshold == -2.0
    assert settings.no_speech_threshold is None
    assert WhisperSettings.from_config({}).compute_type == "int8"
    assert WhisperSettings.from_config({"device": "cuda"}).compute_type == "float16"
    with pytest.raises(ModelLoadError, match="condition_on_previous_text"):
        WhisperSettings.from_config({"condition_on_previous_text": "yes"})
    with pytest.raises(ModelLoadError, match="stream_redecode_seconds"):
        WhisperSettings.from_config({"stream_redecode_seconds": -1})


def test_float32_compute_type_loads(whisper_dir: Path) -> None:
    engine = create_engine("faster-whisper")
    engine.load(model_info("faster-whisper", whisper_dir, compute_type="float32"))
    assert engine.health()["compute_type"] == "float32"
    assert engine.transcribe_file(noise_utterance(), GREEDY).segments


@pytest.mark.parametrize("missing", ["model.bin", "config.json", "tokenizer.json"])
def test_missing_file_is_named(whisper_dir: Path, tmp_path: Path, missing: str) -> None:
    broken = shutil.copytree(whisper_dir, tmp_path / "broken")
    (broken / missing).unlink()
    with pytest.raises(ModelLoadError, match=missing):
        create_engine("faster-whisper").load(model_info("faster-whisper", broken))


def test_corrupt_weights_are_a_load_error(whisper_dir: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(whisper_dir, tmp_path / "broken")
    (broken / "model.bin").write_bytes(b"not a ctranslate2 model")
    with pytest.raises(ModelLoadError, match="cannot load"):
        create_engine("faster-whisper").load(model_info("faster-whisper", broken))


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        create_engine("faster-whisper").load(model_info("faster-whisper", tmp_path / "nope"))


def test_stream_decodes_are_capped_by_the_utterance_length(
    whisper_engine: FasterWhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short segment whose language is detected wrong (pt heard as it/la/th) can decode to
    a repetition loop of up to 448 tokens at each of six fallback temperatures: minutes, and
    the final never comes in time. Live decodes get a budget from the utterance's length."""
    whole_window(whisper_engine, monkeypatch)
    model = whisper_engine._loaded()
    budgets: list[int | None] = []
    real = model.transcribe

    def spy(audio: object, **kwargs: object) -> object:
        budgets.append(kwargs.get("max_new_tokens"))  # type: ignore[arg-type]
        return real(audio, **kwargs)

    monkeypatch.setattr(model, "transcribe", spy)
    audio = noise_utterance(seconds=1.0)  # 1.6 s
    stream = whisper_engine.open_stream(TranscribeOptions(language=None))
    stream.accept(audio)  # a partial decode
    stream.finish()  # the final
    assert budgets == [16 + 19, 16 + 19]  # 16 + 12 tokens a second
    long = np.zeros(16_000 * 25, dtype=np.float32)
    whisper_engine.hypothesis(long, TranscribeOptions(language="pt"), final=True)
    assert budgets[-1] == 200  # never enough to overflow the 448-token window with a prompt
    whisper_engine.transcribe_file(audio, TranscribeOptions(language="pt"))
    assert budgets[-1] is None  # files are not live: no cap


def test_a_live_final_without_a_language_skips_the_fallback_ladder(
    whisper_engine: FasterWhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Detection unsure (wrong) on a short segment: the six-temperature ladder cannot fix the
    language and multiplies the final's cost; one pass gives the final at once."""
    whole_window(whisper_engine, monkeypatch)
    model = whisper_engine._loaded()
    temperatures: list[object] = []
    real = model.transcribe

    def spy(audio: object, **kwargs: object) -> object:
        temperatures.append(kwargs.get("temperature"))
        return real(audio, **kwargs)

    monkeypatch.setattr(model, "transcribe", spy)
    audio = noise_utterance(seconds=1.0)
    whisper_engine.hypothesis(audio, TranscribeOptions(language=None), final=True)
    whisper_engine.hypothesis(audio, TranscribeOptions(language="pt"), final=True)
    # A known language: the ladder, capped at `temperature_fallbacks` (default 1) steps.
    assert temperatures == [0.0, (0.0, 0.2)]
