"""The one resolver from model names to worker specs (server, calls and CLI share it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mediaserver.config import Settings, load_settings
from mediaserver.engines.base import ModelNotFoundError
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.supervision.build import build_supervisor, registry_resolver, worker_spec
from tests.unit.engines.model_dirs import make_model_dir


@pytest.fixture
def registry(settings: Settings, tmp_path: Path) -> Registry:
    registry = Registry.from_settings(settings)
    registry.import_dir(make_model_dir(tmp_path / "wenet", "wenet-ctc"), name="wenet-pt")
    registry.import_dir(make_model_dir(tmp_path / "kokoro", "kokoro"), name="kokoro")
    return registry


def test_concurrency_is_per_kind_from_the_settings(registry: Registry, settings: Settings) -> None:
    models = dataclasses.replace(settings.models, stt_concurrency=7, tts_concurrency=3)
    resolve = registry_resolver(registry, models)
    stt, tts = resolve("wenet-pt"), resolve("kokoro")
    assert (stt.kind, stt.engine, stt.concurrency) == ("stt", "wenet-ctc", 7)
    assert (tts.kind, tts.engine, tts.concurrency) == ("tts", "kokoro", 3)
    assert tts.model_dir == registry.path_of("kokoro")


def test_builtin_espeak_resolves_without_files(registry: Registry, settings: Settings) -> None:
    spec = registry_resolver(registry, settings.models)("espeak-ng")
    assert spec.engine == "espeak-ng"
    assert spec.kind == "tts"
    assert spec.model_dir == Path()  # no directory: the engine needs none
    assert spec.concurrency == settings.models.tts_concurrency


def test_unknown_models_name_the_pull_command(registry: Registry) -> None:
    with pytest.raises(ModelNotFoundError, match="mediaserver pull nope"):
        registry_resolver(registry)("nope")


def test_a_worker_serves_at_least_one_request(registry: Registry) -> None:
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        worker_spec(registry.get("kokoro"), 0)


def test_settings_refuse_zero_concurrency() -> None:
    with pytest.raises(ValueError, match="tts_concurrency"):
        load_settings(environ={"MEDIASERVER_MODELS__TTS_CONCURRENCY": "0"})


async def test_the_server_supervisor_uses_the_settings(
    registry: Registry, settings: Settings
) -> None:
    settings = dataclasses.replace(
        settings, models=dataclasses.replace(settings.models, tts_concurrency=2)
    )
    async with build_supervisor(settings, registry, auto_unload_s=0) as supervisor:
        assert supervisor.options.auto_unload_s == 0
        # The resolver is the supervisor's only input from the settings' [models] table.
        assert supervisor._resolve("espeak-ng").concurrency == 2
