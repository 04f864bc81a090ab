"""Tiny random-weight models, built once per test session, and the engines loaded with them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mediaserver.engines.base import Audio, ModelInfo, SttEngine
from mediaserver.engines.stt import create_engine
from tests.tiny_models import build_tiny_wenet_ctc, build_tiny_whisper


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_whisper(tmp_path_factory.mktemp("models") / "tiny-whisper")


@pytest.fixture(scope="session")
def wenet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_wenet_ctc(tmp_path_factory.mktemp("models") / "tiny-wenet")


def model_info(engine: str, path: Path, **config: object) -> ModelInfo:
    return ModelInfo(name=path.name, path=path, engine=engine, config=config, threads=1)


@pytest.fixture(scope="session")
def whisper_engine(whisper_dir: Path) -> Iterator[SttEngine]:
    engine = create_engine("faster-whisper")
    engine.load(model_info("faster-whisper", whisper_dir))
    yield engine
    engine.unload()


@pytest.fixture(scope="session")
def wenet_engine(wenet_dir: Path) -> Iterator[SttEngine]:
    engine = create_engine("wenet-ctc")
    engine.load(model_info("wenet-ctc", wenet_dir, language="pt"))
    yield engine
    engine.unload()


def noise_utterance(seconds: float = 2.0, seed: int = 1) -> Audio:
    """Silence, a burst of noise (the tiny models "hear" it as speech), silence."""
    rng = np.random.default_rng(seed)
    pad = np.zeros(int(0.3 * 16_000), dtype=np.float32)
    body = (rng.standard_normal(int(seconds * 16_000)) * 0.1).astype(np.float32)
    return np.concatenate([pad, body, pad])
