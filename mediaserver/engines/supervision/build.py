"""The engine supervisor as the server and the CLI build it: model names resolved through the
installed models' manifests.

`registry_resolver` is the one resolver (server, calls, CLI): what a worker runs comes from the
model's manifest, how many requests it serves at once from the settings, per kind of model.

    registry = Registry.from_settings(settings)
    async with build_supervisor(settings, registry, metrics) as engines:
        await engines.transcribe_file("faster-whisper-small", audio, options)

A model that is not installed raises `ModelNotFoundError`, whose message names
`mediaserver pull NAME`; the API turns it into a 404.
"""

from __future__ import annotations

from typing import Any

from mediaserver.config import ModelsSettings, Settings
from mediaserver.engines.models.registry import InstalledModel, Registry
from mediaserver.engines.supervision.spec import WorkerSpec
from mediaserver.engines.supervision.supervisor import Resolve, Supervisor, options_from_settings
from mediaserver.observability import Metrics


class ModelTypeError(ValueError):
    """A model of the wrong kind was asked for (a TTS model for a transcription)."""


def worker_spec(model: InstalledModel, concurrency: int = 1) -> WorkerSpec:
    """What to run for an installed model (builtin engines have no directory)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    manifest = model.manifest
    info = model.model_info()
    return WorkerSpec(
        model=manifest.name,
        engine=manifest.engine,
        model_dir=info.path,
        kind=manifest.type,
        config=dict(manifest.config),
        threads=manifest.resources.threads,
        concurrency=concurrency,
    )


def registry_resolver(registry: Registry, models: ModelsSettings | None = None) -> Resolve:
    """model name -> WorkerSpec, read from the manifest each time (a re-pulled model is seen).

    `ModelNotFoundError` (naming `mediaserver pull NAME`) when the model is not installed.
    """
    settings = models if models is not None else ModelsSettings()
    slots = {"stt": settings.stt_concurrency, "tts": settings.tts_concurrency}

    def resolve(name: str) -> WorkerSpec:
        model = registry.get(name)
        return worker_spec(model, slots[model.manifest.type])

    return resolve


def stt_model(registry: Registry, name: str) -> InstalledModel:
    """The installed speech-to-text model `name` (ModelNotFoundError, ModelTypeError if not)."""
    model = registry.get(name)
    if model.manifest.type != "stt":
        raise ModelTypeError(f"model {name!r} is a {model.manifest.type} model, not speech-to-text")
    return model


def tts_model(registry: Registry, name: str) -> InstalledModel:
    """The installed text-to-speech model `name` (ModelNotFoundError, ModelTypeError if not)."""
    model = registry.get(name)
    if model.manifest.type != "tts":
        raise ModelTypeError(f"model {name!r} is a {model.manifest.type} model, not text-to-speech")
    return model


def build_supervisor(
    settings: Settings,
    registry: Registry,
    metrics: Metrics | None = None,
    **options: Any,
) -> Supervisor:
    """A supervisor over the installed models; `options` override SupervisorOptions fields."""
    return Supervisor(
        registry_resolver(registry, settings.models),
        options_from_settings(settings, **options),
        metrics,
    )
