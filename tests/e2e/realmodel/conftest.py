"""The real faster-whisper base model, installed once per session into a models directory the
way a user would (`Registry.import_dir`, what `mediaserver pull NAME --from DIR` runs), and
what faster-whisper itself makes of the prompts (the WER the live path is compared with)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soxr

from mediaserver.config import Settings
from mediaserver.engines.models.registry import Registry
from tests import real_speech
from tests.e2e.realmodel.support import BURST_PROMPTS, CALL_PROMPTS, RATE
from tests.real_model import RealModelUnavailable, whisper_base_dir
from tests.real_speech import Prompt

MODEL = "faster-whisper-base"
LANGUAGE = "en"  # Asterisk's prompts are English


@pytest.fixture(scope="session")
def base_dir() -> Path:
    if not real_speech.available():
        pytest.skip("Asterisk prompts not installed (scripts/install.sh --test)")
    try:
        return whisper_base_dir()
    except RealModelUnavailable as exc:
        pytest.skip(f"real model unavailable: {exc}")


@pytest.fixture(scope="session")
def models_dir(base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("real-models")
    installed = Registry(models).import_dir(base_dir, name=MODEL, engine="faster-whisper")
    assert installed.path is not None
    # Partials every 2 s of speech instead of every 0.5 s: each one re-decodes the utterance,
    # and on a shared 2-core box four of them per utterance put the worker behind real time.
    # Their scheduling is another suite's subject (benchmarks/realtime_latency.py); here
    # every final must come, so the worker is given the headroom a production box has.
    config = {**installed.manifest.config, "stream_redecode_seconds": 2.0}
    dataclasses.replace(installed.manifest, config=config).write(installed.path)
    return models


@pytest.fixture(scope="session")
def prompts() -> dict[str, Prompt]:
    found = real_speech.prompts()
    return {name: found[name] for name in {*CALL_PROMPTS, *BURST_PROMPTS}}


@pytest.fixture(scope="session")
def direct_errors(base_dir: Path, prompts: dict[str, Prompt]) -> dict[str, tuple[int, int]]:
    """(word errors, reference words) per prompt from faster-whisper called directly on the
    whole recording: same model, int8, beam 5, default thresholds, no VAD."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(base_dir), device="cpu", compute_type="int8", cpu_threads=2)
    out: dict[str, tuple[int, int]] = {}
    for name, prompt in prompts.items():
        audio = soxr.resample(prompt.pcm().astype(np.float32) / 32768.0, RATE, 16000)
        segments, _ = model.transcribe(audio, language=LANGUAGE, beam_size=5, vad_filter=False)
        out[name] = real_speech.word_errors(prompt.text, " ".join(s.text for s in segments))
    return out


@pytest.fixture
def real_settings(settings: Settings, models_dir: Path) -> Settings:
    """The test settings with the base model installed, as the default model, and a server
    default language (the only way an AudioSocket call gets one).

    Closing waits up to 60 s rather than the default 15 s: on a 2-core box shared with other
    test runs one decode of the base model takes 4 s instead of 0.5 s, and this suite is
    about every final coming, not about how fast (the default bound and the `final_lost`
    report past it are tested with scripted engines, tests/unit/calls/test_lost_finals.py)."""
    return dataclasses.replace(
        settings,
        models=dataclasses.replace(settings.models, dir=str(models_dir), default_stt=MODEL),
        session=dataclasses.replace(settings.session, language=LANGUAGE, closing_timeout_s=60.0),
    )
