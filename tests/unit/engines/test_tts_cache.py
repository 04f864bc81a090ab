"""The TTS audio cache, in front of the real espeak-ng engine."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediaserver.config import TtsSettings
from mediaserver.engines.base import ModelInfo
from mediaserver.engines.tts.base import Pcm16, UnknownVoiceError, Voice
from mediaserver.engines.tts.cache import CachedSynthesizer, CacheKey, TtsCache
from mediaserver.engines.tts.espeak import EspeakEngine
from mediaserver.observability import Metrics


class CountingEngine:
    """The real espeak-ng engine, counting the texts it is asked to synthesize."""

    name = "espeak-ng"

    def __init__(self) -> None:
        self.inner = EspeakEngine()
        self.inner.load(ModelInfo("espeak-ng", Path("/nonexistent"), "espeak-ng", {}))
        self.calls: list[str] = []

    @property
    def sample_rate(self) -> int:
        return self.inner.sample_rate

    @property
    def default_voice(self) -> str:
        return self.inner.default_voice

    def load(self, model: ModelInfo) -> None:
        self.inner.load(model)

    def voices(self) -> list[Voice]:
        return self.inner.voices()

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> Iterator[Pcm16]:
        stream = self.inner.synthesize(text, voice, speed)
        self.calls.append(text)
        return stream

    def unload(self) -> None:
        self.inner.unload()

    def health(self) -> Mapping[str, Any]:
        return self.inner.health()


@pytest.fixture
def engine() -> CountingEngine:
    return CountingEngine()


def pcm(samples: int, value: int = 1) -> Pcm16:
    return np.full(samples, value, np.int16)


def key(text: str) -> CacheKey:
    return CacheKey.of("espeak-ng", "pt-br", 1.0, text)


def test_a_hit_returns_the_same_audio_without_synthesizing(engine: CountingEngine) -> None:
    tts = CachedSynthesizer(engine, TtsCache())
    first = list(tts.synthesize("Bom dia. Em que posso ajudar?"))
    second = list(tts.synthesize("Bom dia. Em que posso ajudar?"))
    assert len(engine.calls) == 1
    assert len(first) == len(second) == 2
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)


def test_the_key_is_the_speakable_text(engine: CountingEngine) -> None:
    tts = CachedSynthesizer(engine, TtsCache())
    list(tts.synthesize("Seu saldo é R$ 10,00."))
    list(tts.synthesize("  Seu saldo é   dez reais. "))
    assert engine.calls == ["Seu saldo é dez reais."]


def test_voice_and_speed_are_part_of_the_key(engine: CountingEngine) -> None:
    tts = CachedSynthesizer(engine, TtsCache())
    for voice, speed in [(None, 1.0), ("pt-br", 1.0), ("PT-BR", 1.0), ("pt", 1.0), (None, 1.5)]:
        list(tts.synthesize("Olá", voice, speed))
    assert len(engine.calls) == 3  # default voice == "pt-br" == "PT-BR"


def test_an_abandoned_stream_is_not_cached(engine: CountingEngine) -> None:
    tts = CachedSynthesizer(engine, TtsCache())
    stream = tts.synthesize("Primeira frase. Segunda frase.")
    next(stream)
    stream.close()
    assert len(tts.cache) == 0
    list(tts.synthesize("Primeira frase. Segunda frase."))
    assert len(tts.cache) == 1


def test_cached_audio_cannot_be_modified_by_a_consumer(engine: CountingEngine) -> None:
    tts = CachedSynthesizer(engine, TtsCache())
    list(tts.synthesize("Olá"))
    (chunk,) = tts.synthesize("Olá")
    with pytest.raises(ValueError, match="read-only"):
        chunk[0] = 0


def test_bad_requests_fail_before_touching_the_cache(engine: CountingEngine) -> None:
    metrics = Metrics()
    cache = TtsCache(misses=metrics.tts_cache_misses)
    tts = CachedSynthesizer(engine, cache)
    with pytest.raises(ValueError, match="empty"):
        tts.synthesize("   ")
    with pytest.raises(UnknownVoiceError):
        tts.synthesize("Olá", "xx")
    with pytest.raises(ValueError, match="speed"):
        tts.synthesize("Olá", speed=9.0)
    assert len(cache) == 0
    assert engine.calls == []


def test_hits_and_misses_are_counted(engine: CountingEngine) -> None:
    metrics = Metrics()
    cache = TtsCache(hits=metrics.tts_cache_hits, misses=metrics.tts_cache_misses)
    tts = CachedSynthesizer(engine, cache)
    for text in ("Olá", "Olá", "Tchau", "Olá"):
        list(tts.synthesize(text))
    r = metrics.registry
    assert r.get_sample_value("mediaserver_tts_cache_hits_total") == 2
    assert r.get_sample_value("mediaserver_tts_cache_misses_total") == 2


def test_warm_up_fills_the_cache_once_and_counts_no_misses(engine: CountingEngine) -> None:
    metrics = Metrics()
    cache = TtsCache(hits=metrics.tts_cache_hits, misses=metrics.tts_cache_misses)
    tts = CachedSynthesizer(engine, cache)
    phrases = ("Olá", "Um momento, por favor")
    assert tts.warm_up(phrases) == 2
    assert tts.warm_up(phrases) == 0
    list(tts.synthesize("Um momento, por favor"))
    assert engine.calls == ["Olá", "Um momento, por favor"]
    r = metrics.registry
    assert r.get_sample_value("mediaserver_tts_cache_misses_total") == 0
    assert r.get_sample_value("mediaserver_tts_cache_hits_total") == 1


def test_entries_are_bounded_least_recently_used_first() -> None:
    cache = TtsCache(max_entries=2)
    cache.put(key("a"), [pcm(10)])
    cache.put(key("b"), [pcm(10)])
    assert cache.get(key("a")) is not None  # "a" is now the most recent
    cache.put(key("c"), [pcm(10)])
    assert key("b") not in cache
    assert key("a") in cache
    assert key("c") in cache
    assert len(cache) == 2


def test_bytes_are_bounded() -> None:
    cache = TtsCache(max_entries=100, max_bytes=1000)  # 500 int16 samples
    for name in "abcd":
        cache.put(key(name), [pcm(100), pcm(100)])  # 400 B each
    assert [name for name in "abcd" if key(name) in cache] == ["c", "d"]
    assert cache.nbytes == 800
    assert cache.put(key("big"), [pcm(501)]) is False  # larger than the whole cache
    assert key("big") not in cache
    assert cache.nbytes == 800


def test_replacing_an_entry_keeps_the_byte_count_right() -> None:
    cache = TtsCache()
    cache.put(key("a"), [pcm(100)])
    cache.put(key("a"), [pcm(50)])
    assert cache.nbytes == 100
    assert len(cache) == 1
    cache.clear()
    assert cache.nbytes == 0


def test_zero_sized_cache_keeps_nothing() -> None:
    cache = TtsCache(max_entries=0)
    assert cache.put(key("a"), [pcm(1)]) is False
    assert cache.get(key("a")) is None


def test_from_settings(engine: CountingEngine) -> None:
    settings = TtsSettings(cache_entries=3, cache_max_mb=1, warmup_phrases=("Olá", "Tchau"))
    metrics = Metrics()
    cache = TtsCache.from_settings(settings, metrics)
    assert (cache.max_entries, cache.max_bytes) == (3, 1 << 20)
    tts = CachedSynthesizer(engine, cache)
    assert tts.warm_up(settings.warmup_phrases) == 2
    list(tts.synthesize("Olá"))
    assert metrics.registry.get_sample_value("mediaserver_tts_cache_hits_total") == 1


def test_negative_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="bounds"):
        TtsCache(max_bytes=-1)


def test_concurrent_use_keeps_the_books_balanced() -> None:
    cache = TtsCache(max_entries=50, max_bytes=50_000)

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(300):
            k = key(str(rng.integers(0, 80)))
            if cache.get(k) is None:
                cache.put(k, [pcm(int(rng.integers(1, 400)))])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    stored = [cache.get(key(str(i))) for i in range(80)]
    assert sum(sum(c.nbytes for c in s) for s in stored if s is not None) == cache.nbytes
    assert len(cache) <= 50
    assert cache.nbytes <= 50_000
