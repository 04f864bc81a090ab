"""The speech service over a real espeak-ng worker: cache, warm-up, checks before any audio."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from mediaserver.config import Settings
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.supervision.build import build_supervisor
from mediaserver.engines.supervision.supervisor import Supervisor
from mediaserver.engines.tts.base import UnknownVoiceError
from mediaserver.engines.tts.cache import CacheKey
from mediaserver.engines.tts.service import MAX_INPUT_CHARS, InvalidVoiceError, TtsService
from mediaserver.observability import Metrics
from tests.unit.engines.model_dirs import make_model_dir

LONG_TEXT = " ".join(f"Esta é a frase número {n}, dita para testar o fluxo." for n in range(40))


@pytest.fixture
async def supervisor(settings: Settings) -> AsyncIterator[Supervisor]:
    async with build_supervisor(settings, Registry.from_settings(settings), auto_unload_s=0) as sup:
        yield sup


def service(supervisor: Supervisor, settings: Settings, metrics: Metrics) -> TtsService:
    return TtsService(supervisor, Registry.from_settings(settings), settings, metrics)


async def said(speech: TtsService, text: str, **kwargs: object) -> tuple[bool, np.ndarray]:
    stream = await speech.open(text, **kwargs)  # type: ignore[arg-type]
    try:
        pcm = np.concatenate([chunk async for chunk in stream])
    finally:
        await stream.aclose()
    return stream.cached, pcm


async def test_repeated_prompts_come_from_the_cache(
    supervisor: Supervisor, settings: Settings
) -> None:
    metrics = Metrics()
    speech = service(supervisor, settings, metrics)
    first_cached, first = await said(speech, "Seu saldo é R$ 10,00.")
    # Same speakable text ("dez reais"): same entry.
    again_cached, again = await said(speech, "Seu saldo é dez reais.")
    assert (first_cached, again_cached) == (False, True)
    np.testing.assert_array_equal(first, again)
    assert 0.5 < len(first) / 22_050 < 5
    assert metrics.tts_cache_hits._value.get() == 1
    assert metrics.tts_cache_misses._value.get() == 1
    assert (await said(speech, "Seu saldo é dez reais.", speed=1.5))[0] is False  # another key


async def test_warm_up_fills_the_cache_without_counting_traffic(
    supervisor: Supervisor, settings: Settings
) -> None:
    metrics = Metrics()
    speech = service(supervisor, settings, metrics)
    speech.start_warm_up()
    assert await speech.warmed_up() == len(settings.tts.warmup_phrases) == 2
    assert len(speech.cache) == 2
    assert metrics.tts_cache_misses._value.get() == 0
    cached, pcm = await said(speech, "Um momento, por favor")
    assert cached
    assert len(pcm) > 0
    assert metrics.tts_cache_hits._value.get() == 1
    assert await speech.warm_up() == 0  # nothing left to do


async def test_a_stream_closed_early_is_not_cached_and_frees_the_worker(
    supervisor: Supervisor, settings: Settings
) -> None:
    speech = service(supervisor, settings, Metrics())
    stream = await speech.open(LONG_TEXT)
    first = await anext(aiter(stream))
    assert 0 < len(first) < 22_050 * 10  # one clause, not the whole text
    await stream.aclose()
    assert len(speech.cache) == 0
    (status,) = supervisor.workers()
    assert status.in_flight == 0
    assert (await said(speech, "Olá"))[0] is False  # the worker still serves


async def test_request_faults_are_raised_before_any_worker_starts(
    supervisor: Supervisor, settings: Settings
) -> None:
    speech = service(supervisor, settings, Metrics())
    with pytest.raises(InvalidVoiceError, match=r"no voice 'alloy'.*try pt, pt-br") as info:
        await speech.open("Olá", voice="alloy")
    assert isinstance(info.value, UnknownVoiceError)
    with pytest.raises(ValueError, match="empty"):
        await speech.open("   ")
    with pytest.raises(ValueError, match=f"limit is {MAX_INPUT_CHARS}"):
        await speech.open("a" * (MAX_INPUT_CHARS + 1))
    with pytest.raises(ValueError, match="speed must be between"):
        await speech.open("Olá", speed=3.0)
    assert supervisor.workers() == []


async def test_default_model_is_the_builtin_espeak(
    supervisor: Supervisor, settings: Settings
) -> None:
    speech = service(supervisor, settings, Metrics())
    model = speech.model(None)
    assert (model.name, model.path) == ("espeak-ng", None)  # builtin: no files
    voices = {v.voice.id: v for v in await speech.voices()}
    assert voices["pt-br"].model == "espeak-ng"
    assert voices["pt-br"].voice.language == "pt-BR"
    cached, pcm = await said(speech, "Olá", voice="PT-BR")  # espeak voice ids ignore case
    assert not cached
    assert np.abs(pcm).max() > 1000


async def test_a_missing_default_model_does_not_stop_the_warm_up_caller(
    supervisor: Supervisor, settings: Settings
) -> None:
    models = dataclasses.replace(settings.models, default_tts="kokoro")  # not installed
    speech = service(supervisor, dataclasses.replace(settings, models=models), Metrics())
    speech.start_warm_up()
    assert await speech.warmed_up() == 0
    await speech.aclose()


async def test_pt_br_normalization_is_for_portuguese_voices(
    supervisor: Supervisor, settings: Settings
) -> None:
    speech = service(supervisor, settings, Metrics())
    await said(speech, "R$ 10,00")
    await said(speech, "R$ 10,00", voice="en-us")
    assert CacheKey.of("espeak-ng", "pt-br", 1.0, "dez reais") in speech.cache
    assert CacheKey.of("espeak-ng", "en-us", 1.0, "R$ 10,00") in speech.cache


async def test_a_model_pulled_again_is_seen_with_its_new_voices(
    supervisor: Supervisor, settings: Settings, tmp_path: Path
) -> None:
    registry = Registry.from_settings(settings)
    speech = TtsService(supervisor, registry, settings)
    source = make_model_dir(tmp_path / "kokoro", "kokoro")
    # Not the catalog's name "kokoro": the voices then come from the files, not the catalog.
    registry.import_dir(source, name="my-kokoro")
    assert {v.voice.id for v in await speech.voices("my-kokoro")} == {"pf_dora", "pm_alex"}
    registry.remove("my-kokoro")
    (source / "voices" / "pm_santa.pt").write_bytes(b"\x04" * 100)
    registry.import_dir(source, name="my-kokoro")
    voices = {v.voice.id: v.voice for v in await speech.voices("my-kokoro")}
    assert set(voices) == {"pf_dora", "pm_alex", "pm_santa"}
    assert (voices["pm_santa"].language, voices["pm_santa"].gender) == ("pt-BR", "male")
    with pytest.raises(InvalidVoiceError, match=r"no voice 'pt-br'.*try pf_dora"):
        await speech.open("Olá", model="my-kokoro", voice="pt-br")
    assert supervisor.workers() == []  # voices come from the manifest: no worker needed
