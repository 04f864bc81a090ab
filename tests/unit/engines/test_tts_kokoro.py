"""The Kokoro engine on a random-weight model laid out like Kokoro-82M (tests/tiny_kokoro)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mediaserver.engines.base import ModelInfo, ModelLoadError
from mediaserver.engines.tts import create_tts_engine
from mediaserver.engines.tts.base import Pcm16, UnknownVoiceError
from mediaserver.engines.tts.kokoro import KokoroEngine, voice_info
from tests.tiny_kokoro import WEIGHTS, build_kokoro

TWO_CLAUSES = "Bom dia. Tudo bem?"


@pytest.fixture(scope="module")
def no_hub() -> Iterator[None]:
    """Any call to the Hugging Face hub fails the test: the engine must never need one."""
    import kokoro.model
    import kokoro.pipeline

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise AssertionError(f"the Kokoro engine called the hub: {args} {kwargs}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kokoro.model, "hf_hub_download", refuse)
        mp.setattr(kokoro.pipeline, "hf_hub_download", refuse)
        yield


@pytest.fixture(scope="module")
def kokoro_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_kokoro(tmp_path_factory.mktemp("models") / "kokoro")


def kokoro_model(path: Path, **config: object) -> ModelInfo:
    config = {"model": WEIGHTS, "lang_code": "p", "default_voice": "pf_dora", **config}
    return ModelInfo(path.name, path, "kokoro", config, threads=1)


@pytest.fixture(scope="module")
def engine(kokoro_dir: Path, no_hub: None) -> KokoroEngine:
    del no_hub
    engine = create_tts_engine("kokoro")
    assert isinstance(engine, KokoroEngine)
    engine.load(kokoro_model(kokoro_dir))
    return engine


def say(engine: KokoroEngine, text: str, voice: str = "pf_dora", speed: float = 1.0) -> Pcm16:
    return np.concatenate(list(engine.synthesize(text, voice, speed)))


def test_loads_with_its_voices(engine: KokoroEngine) -> None:
    assert engine.sample_rate == 24_000
    assert engine.default_voice == "pf_dora"
    voices = {v.id: v for v in engine.voices()}
    assert set(voices) == {"pf_dora", "pm_alex", "pm_santa"}
    assert voices["pf_dora"].language == "pt-BR"
    assert voices["pf_dora"].gender == "female"
    assert voices["pm_alex"].gender == "male"
    assert engine.health()["loaded"] is True


def test_streams_clause_by_clause(engine: KokoroEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    pipeline = engine._pipeline

    def counting(text: str, **kwargs: Any) -> Any:
        calls.append(text)
        return pipeline(text, **kwargs)

    monkeypatch.setattr(engine, "_pipeline", counting)
    chunks = engine.synthesize(TWO_CLAUSES, "pm_alex")
    first = next(chunks)
    assert calls == ["Bom dia."]  # the second clause is not synthesized yet
    (second,) = list(chunks)
    assert calls == ["Bom dia.", "Tudo bem?"]
    for chunk in (first, second):
        assert chunk.dtype == np.int16
        assert chunk.ndim == 1
        assert np.abs(chunk.astype(np.int32)).max() > 100
    # The duration head is deterministic: the first chunk is exactly the first clause.
    assert len(first) == len(say(engine, "Bom dia.", "pm_alex"))
    assert len(first) % 600 == 0  # whole frames of 25 ms at 24 kHz


def test_an_empty_voice_is_the_default_voice(engine: KokoroEngine) -> None:
    assert len(say(engine, "Bom dia.", "")) == len(say(engine, "Bom dia."))


def test_speed_changes_duration(engine: KokoroEngine) -> None:
    normal = len(say(engine, "Bom dia."))
    fast = len(say(engine, "Bom dia.", speed=2.0))
    assert fast < 0.7 * normal


def test_unknown_voice_lists_valid_ones(engine: KokoroEngine) -> None:
    with pytest.raises(UnknownVoiceError, match=r"'af_heart'.*pf_dora, pm_alex, pm_santa"):
        engine.synthesize("Olá", "af_heart")
    with pytest.raises(ValueError, match="empty"):
        engine.synthesize(" ", "pf_dora")


def test_resamples_to_the_configured_rate(kokoro_dir: Path, no_hub: None) -> None:
    del no_hub
    engine = KokoroEngine()
    engine.load(kokoro_model(kokoro_dir, sample_rate=16_000))
    assert engine.sample_rate == 16_000
    frames = len(say(engine, "Olá.")) / (16_000 * 0.025)
    assert frames == pytest.approx(round(frames), abs=0.05)
    engine.unload()
    assert engine.health()["loaded"] is False


def partial_copy(source: Path, target: Path, skip: str) -> Path:
    """`source` linked file by file into `target`, leaving out `skip`."""
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if path.is_file() and str(relative) != skip:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).symlink_to(path)
    return target


def test_a_bad_sample_rate_is_a_load_error(kokoro_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"'sample_rate' must be 8000\.\.48000, got 100"):
        KokoroEngine().load(kokoro_model(kokoro_dir, sample_rate=100))
    with pytest.raises(ModelLoadError, match="'default_voice' must be str"):
        KokoroEngine().load(kokoro_model(kokoro_dir, default_voice=1))


@pytest.mark.parametrize(
    ("skip", "message"),
    [
        ("config.json", "has no config.json"),
        (WEIGHTS, f"has no {WEIGHTS}"),
        ("voices/pf_dora.pt", "has no voices/pf_dora.pt"),
    ],
)
def test_missing_files_name_the_file(
    kokoro_dir: Path, tmp_path: Path, skip: str, message: str
) -> None:
    directory = partial_copy(kokoro_dir, tmp_path / "broken", skip)
    with pytest.raises(ModelLoadError, match=message):
        KokoroEngine().load(kokoro_model(directory))


def test_no_voices_at_all(kokoro_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "novoices"
    directory.mkdir()
    shutil.copy(kokoro_dir / "config.json", directory)
    (directory / WEIGHTS).symlink_to(kokoro_dir / WEIGHTS)
    with pytest.raises(ModelLoadError, match=r"no voices/\*\.pt"):
        KokoroEngine().load(kokoro_model(directory))


def test_a_voice_of_the_wrong_shape_is_named(kokoro_dir: Path, tmp_path: Path) -> None:
    directory = partial_copy(kokoro_dir, tmp_path / "badvoice", "voices/pm_santa.pt")
    torch.save(torch.zeros(510, 256), directory / "voices" / "pm_santa.pt")
    with pytest.raises(ModelLoadError, match=r"pm_santa\.pt holds \(510, 256\)"):
        KokoroEngine().load(kokoro_model(directory))


def test_a_config_without_kokoro_keys_is_refused(kokoro_dir: Path, tmp_path: Path) -> None:
    directory = partial_copy(kokoro_dir, tmp_path / "badconfig", "config.json")
    config = json.loads((kokoro_dir / "config.json").read_text())
    del config["istftnet"]
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="lacks istftnet"):
        KokoroEngine().load(kokoro_model(directory))


def test_weights_that_do_not_fit_the_config_are_a_load_error(
    kokoro_dir: Path, tmp_path: Path
) -> None:
    directory = partial_copy(kokoro_dir, tmp_path / "mismatch", "config.json")
    config = json.loads((kokoro_dir / "config.json").read_text())
    config["plbert"]["hidden_size"] = 32
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=f"cannot load the Kokoro model.*{WEIGHTS}"):
        KokoroEngine().load(kokoro_model(directory))


@pytest.mark.parametrize(
    ("name", "language", "gender"),
    [("pf_dora", "pt-BR", "female"), ("am_adam", "en-US", "male"), ("custom", "und", "unknown")],
)
def test_voice_info_from_the_name(name: str, language: str, gender: str) -> None:
    voice = voice_info(name)
    assert (voice.language, voice.gender, voice.engine) == (language, gender, "kokoro")


def test_weights_missing_a_subnetwork_are_a_load_error(kokoro_dir: Path, tmp_path: Path) -> None:
    directory = partial_copy(kokoro_dir, tmp_path / "partial", WEIGHTS)
    state = torch.load(kokoro_dir / WEIGHTS, weights_only=True)
    del state["decoder"]
    torch.save(state, directory / WEIGHTS)
    with pytest.raises(ModelLoadError, match="lacks the weights of decoder"):
        KokoroEngine().load(kokoro_model(directory))
