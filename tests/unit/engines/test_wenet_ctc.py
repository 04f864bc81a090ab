from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from mediaserver.engines.base import ModelLoadError, SttEngine, TranscribeOptions
from mediaserver.engines.stt import create_engine
from mediaserver.engines.stt.wenet_ctc import WenetCtcEngine, WenetSettings
from tests.unit.engines.conftest import model_info, noise_utterance

OPTIONS = TranscribeOptions()


def test_capabilities_are_honest() -> None:
    caps = WenetCtcEngine.capabilities
    assert caps.native_partials
    assert caps.word_timestamps
    assert not caps.hot_words
    assert not caps.initial_prompt
    assert not caps.translation
    assert not caps.language_detection


def test_language_comes_from_the_manifest_or_the_request(wenet_engine: SttEngine) -> None:
    assert wenet_engine.transcribe_file(noise_utterance(), OPTIONS).language == "pt"
    asked = TranscribeOptions(language="en")
    assert wenet_engine.transcribe_file(noise_utterance(), asked).language == "en"


def test_prompt_and_hot_words_are_ignored(wenet_engine: SttEngine) -> None:
    plain = wenet_engine.transcribe_file(noise_utterance(), OPTIONS)
    biased = TranscribeOptions(prompt="bom dia", hot_words=("PIX",))
    assert wenet_engine.transcribe_file(noise_utterance(), biased) == plain


def test_translation_is_refused(wenet_engine: SttEngine) -> None:
    with pytest.raises(ValueError, match="translate"):
        wenet_engine.transcribe_file(noise_utterance(), TranscribeOptions(task="translate"))
    with pytest.raises(ValueError, match="translate"):
        wenet_engine.open_stream(TranscribeOptions(task="translate"))


def test_words_have_times_inside_the_audio(wenet_engine: SttEngine) -> None:
    transcript = wenet_engine.transcribe_file(noise_utterance(), OPTIONS)
    words = [word for segment in transcript.segments for word in segment.words]
    assert " ".join(w.word for w in words) == transcript.text
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= transcript.duration for w in words)


def test_long_files_are_decoded_in_windows(wenet_dir: Path) -> None:
    engine = create_engine("wenet-ctc")
    engine.load(model_info("wenet-ctc", wenet_dir, window_seconds=1.0))
    audio = noise_utterance(seconds=2.4)  # 3 s: three windows
    seen: list[float] = []
    transcript = engine.transcribe_file(audio, OPTIONS, lambda d, _t: seen.append(d))
    assert seen == pytest.approx([1.0, 2.0, 3.0])
    assert [s.start for s in transcript.segments] == [0.0, 1.0, 2.0]
    later = [w for s in transcript.segments[1:] for w in s.words]
    assert later
    assert all(w.start >= 1.0 for w in later)


def test_native_partials_grow_chunk_by_chunk(wenet_engine: SttEngine) -> None:
    stream = wenet_engine.open_stream(OPTIONS)
    audio = noise_utterance(seconds=2.5)
    texts = [stream.accept(audio[i : i + 1_600]).text for i in range(0, len(audio), 1_600)]
    assert texts[0] == ""  # 100 ms of silence
    nonempty = [t for t in texts if t]
    assert len(set(nonempty)) > 2, "partials change as chunks are decoded, without waiting"
    for before, after in itertools.pairwise(texts):
        assert after.startswith(before)  # greedy CTC partials only grow
    final = stream.finish()
    assert final.is_final
    assert final.text.startswith(texts[-1])


def test_silence_stream_says_nothing(wenet_engine: SttEngine) -> None:
    stream = wenet_engine.open_stream(OPTIONS)
    assert stream.accept(np.zeros(32_000, dtype=np.float32)).text == ""
    assert stream.finish().text == ""


def test_settings_validation() -> None:
    assert WenetSettings.from_config({"chunk_size": 8}).chunk_size == 8
    with pytest.raises(ModelLoadError, match="chunk_size"):
        WenetSettings.from_config({"chunk_size": 0})
    with pytest.raises(ModelLoadError, match="window_seconds"):
        WenetSettings.from_config({"window_seconds": "long"})


@pytest.mark.parametrize("missing", ["tokens.txt", "model.onnx", "model-streaming.onnx"])
def test_missing_file_is_named(wenet_dir: Path, tmp_path: Path, missing: str) -> None:
    broken = shutil.copytree(wenet_dir, tmp_path / "broken")
    (broken / missing).unlink()
    with pytest.raises(ModelLoadError, match=missing):
        create_engine("wenet-ctc").load(model_info("wenet-ctc", broken))


def test_corrupt_onnx_is_a_load_error(wenet_dir: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(wenet_dir, tmp_path / "broken")
    (broken / "model.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match=r"model\.onnx is not a loadable ONNX model"):
        create_engine("wenet-ctc").load(model_info("wenet-ctc", broken))


def test_missing_metadata_is_a_load_error_not_an_exit(wenet_dir: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(wenet_dir, tmp_path / "broken")
    model = onnx.load(str(broken / "model-streaming.onnx"))
    kept = [p for p in model.metadata_props if p.key != "right_context"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, str(broken / "model-streaming.onnx"))
    with pytest.raises(ModelLoadError, match="right_context"):
        create_engine("wenet-ctc").load(model_info("wenet-ctc", broken))


def test_tokens_must_match_the_model(wenet_dir: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(wenet_dir, tmp_path / "broken")
    with (broken / "tokens.txt").open("a", encoding="utf-8") as tokens:
        tokens.write("extra 999\n")
    with pytest.raises(ModelLoadError, match="vocab_size"):
        create_engine("wenet-ctc").load(model_info("wenet-ctc", broken))
    (broken / "tokens.txt").write_text("no-id-here\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="line 1"):
        create_engine("wenet-ctc").load(model_info("wenet-ctc", broken))
