from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.engines.models.layout import (
    ModelLayoutError,
    check_layout,
    detect_engine,
    detected_config,
    detected_voices,
)
from tests.unit.engines.model_dirs import make_model_dir


@pytest.mark.parametrize("engine", ["faster-whisper", "wenet-ctc", "kokoro"])
def test_detects_each_engine(tmp_path: Path, engine: str) -> None:
    assert detect_engine(make_model_dir(tmp_path, engine)) == engine


def test_whisper_needs_a_tokenizer_or_vocabulary(tmp_path: Path) -> None:
    model = make_model_dir(tmp_path, "faster-whisper", skip=("tokenizer.json", "vocabulary.json"))
    with pytest.raises(ModelLayoutError, match=r"missing tokenizer\.json or vocabulary\.json"):
        check_layout(model, "faster-whisper")
    (model / "vocabulary.txt").write_text("a\n")
    check_layout(model, "faster-whisper")


def test_missing_files_are_all_named(tmp_path: Path) -> None:
    model = make_model_dir(tmp_path, "kokoro", skip=("voices/pf_dora.pt", "voices/pm_alex.pt"))
    (model / "kokoro-v1_0.pth").unlink()
    with pytest.raises(ModelLayoutError, match=r"missing a \*\.pth weights file, voices/\*\.pt"):
        check_layout(model, "kokoro")


def test_ambiguous_directory_asks_for_engine(tmp_path: Path) -> None:
    make_model_dir(tmp_path, "faster-whisper")
    make_model_dir(tmp_path, "kokoro")
    with pytest.raises(ModelLayoutError, match=r"faster-whisper, kokoro.*--engine"):
        detect_engine(tmp_path)


def test_unknown_directory_says_what_is_expected(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("hi")
    with pytest.raises(ModelLayoutError, match=r"wenet-ctc: a \*\.onnx model, tokens\.txt"):
        detect_engine(tmp_path)


def test_wenet_config_prefers_int8_and_finds_streaming(tmp_path: Path) -> None:
    model = make_model_dir(tmp_path, "wenet-ctc")
    assert detected_config(model, "wenet-ctc") == {
        "model": "model.int8.onnx",
        "streaming_model": "model-streaming.int8.onnx",
        "tokens": "tokens.txt",
    }


def test_kokoro_config_and_voices(tmp_path: Path) -> None:
    model = make_model_dir(tmp_path, "kokoro")
    assert detected_config(model, "kokoro") == {"model": "kokoro-v1_0.pth"}
    assert detected_voices(model, "kokoro") == ("pf_dora", "pm_alex")
