"""The calls' recognizers over the engine supervisor: model resolution and worker specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.calls.worker_recognizers import WorkerRecognizers
from mediaserver.config import Settings
from mediaserver.engines.base import Architecture, ModelLoadError, ModelNotFoundError
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.supervision.build import registry_resolver
from mediaserver.engines.supervision.supervisor import Supervisor
from tests.unit.engines.model_dirs import make_model_dir


@pytest.fixture
def registry(settings: Settings, tmp_path: Path) -> Registry:
    registry = Registry.from_settings(settings)
    registry.import_dir(make_model_dir(tmp_path / "src", "wenet-ctc"), name="wenet-pt")
    return registry


def test_worker_specs_come_from_the_manifest(registry: Registry, settings: Settings) -> None:
    spec = registry_resolver(registry)("wenet-pt")
    assert spec.model == "wenet-pt"
    assert spec.engine == "wenet-ctc"
    assert spec.kind == "stt"
    assert spec.model_dir == registry.path_of("wenet-pt")
    assert spec.concurrency == settings.models.stt_concurrency > 1  # calls stream at once
    with pytest.raises(ModelNotFoundError, match="mediaserver pull nope"):
        registry_resolver(registry)("nope")


async def test_missing_and_non_stt_models_never_reach_a_worker(registry: Registry) -> None:
    def unused(name: str) -> object:
        raise AssertionError("no worker may be started")

    supervisor = Supervisor(unused)  # type: ignore[arg-type]
    await supervisor.start()
    try:
        engines = WorkerRecognizers(supervisor, registry)
        with pytest.raises(ModelNotFoundError, match="mediaserver pull faster-whisper-small"):
            await engines.get("faster-whisper-small")
        with pytest.raises(ModelLoadError, match="not a speech-to-text model"):
            await engines.get("espeak-ng")
    finally:
        await supervisor.close()
    assert supervisor.workers() == []
    assert registry.get("wenet-pt").manifest.architecture is Architecture.CTC
