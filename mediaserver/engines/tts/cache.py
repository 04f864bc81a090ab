"""Synthesized audio kept for prompts said again and again ("Um momento, por favor").

`TtsCache` is an LRU map from (engine, voice, speed, text) to the chunks an engine produced,
bounded both in entries and in bytes, safe to share between threads. `CachedSynthesizer` is
what a TTS worker serves: text made speakable, then served from the cache or synthesized
(streamed to the caller while being recorded), and `warm_up` fills the cache at start with the
configured phrases so the first caller of the day does not wait for them.

Two callers missing the same key at once both synthesize it; the second `put` just refreshes
the entry. That is rarer and cheaper than making one caller wait on the other.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

import numpy as np

from mediaserver.audio.pcm import Pcm16
from mediaserver.domain.speakable import speakable
from mediaserver.engines.tts.base import TtsEngine, check_speed, check_text

if TYPE_CHECKING:
    from mediaserver.config import TtsSettings
    from mediaserver.observability import Metrics

MiB: Final = 1 << 20
_SPACES: Final = re.compile(r"\s+")


class Counter(Protocol):
    """What the cache needs of a metric (prometheus_client's Counter fits)."""

    def inc(self, amount: float = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class CacheKey:
    engine: str
    voice: str
    speed: float
    text: str  # the speakable text, whitespace collapsed

    @classmethod
    def of(cls, engine: str, voice: str, speed: float, text: str) -> CacheKey:
        return cls(engine, voice.lower(), round(speed, 3), _SPACES.sub(" ", text).strip())


class TtsCache:
    def __init__(
        self,
        max_entries: int = 256,
        max_bytes: int = 64 * MiB,
        hits: Counter | None = None,
        misses: Counter | None = None,
    ) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError(f"cache bounds must be >= 0, got {max_entries} entries, {max_bytes} B")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._hits = hits
        self._misses = misses
        self._entries: OrderedDict[CacheKey, tuple[Pcm16, ...]] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: TtsSettings, metrics: Metrics | None = None) -> TtsCache:
        return cls(
            max_entries=settings.cache_entries,
            max_bytes=settings.cache_max_mb * MiB,
            hits=None if metrics is None else metrics.tts_cache_hits,
            misses=None if metrics is None else metrics.tts_cache_misses,
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:  # no counting, no reordering: for warm-up and tests
            return key in self._entries

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def get(self, key: CacheKey) -> tuple[Pcm16, ...] | None:
        """The cached chunks (read-only arrays), counted as a hit or a miss."""
        with self._lock:
            chunks = self._entries.get(key)
            if chunks is not None:
                self._entries.move_to_end(key)
        counter = self._misses if chunks is None else self._hits
        if counter is not None:
            counter.inc()
        return chunks

    def put(self, key: CacheKey, chunks: Sequence[Pcm16]) -> bool:
        """Keep copies of `chunks` under `key`; False when the audio alone exceeds the bounds."""
        stored = tuple(_frozen(c) for c in chunks)
        size = sum(c.nbytes for c in stored)
        if size > self.max_bytes or self.max_entries == 0:
            return False
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._nbytes -= sum(c.nbytes for c in old)
            self._entries[key] = stored
            self._nbytes += size
            while len(self._entries) > self.max_entries or self._nbytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._nbytes -= sum(c.nbytes for c in evicted)
        return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._nbytes = 0


def _frozen(chunk: Pcm16) -> Pcm16:
    copy = np.array(chunk, dtype=np.int16, copy=True)
    copy.flags.writeable = False  # a consumer cannot corrupt what the next caller hears
    return copy


class CachedSynthesizer:
    """An engine behind speakable text and the cache."""

    def __init__(
        self,
        engine: TtsEngine,
        cache: TtsCache,
        normalize: Callable[[str], str] = speakable,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self._normalize = normalize

    def key(self, text: str, voice: str | None = None, speed: float = 1.0) -> CacheKey:
        said = check_text(self._normalize(check_text(text)))
        voice = voice or self.engine.default_voice
        return CacheKey.of(self.engine.name, voice, check_speed(speed), said)

    def synthesize(
        self, text: str, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[Pcm16]:
        """Like `TtsEngine.synthesize`, `voice` defaulting to the engine's; errors raised now."""
        key = self.key(text, voice, speed)
        cached = self.cache.get(key)
        if cached is not None:
            return iter(cached)
        stream = self.engine.synthesize(key.text, voice or self.engine.default_voice, speed)
        return self._recorded(key, stream)

    def _recorded(self, key: CacheKey, stream: Iterator[Pcm16]) -> Iterator[Pcm16]:
        chunks: list[Pcm16] = []
        for chunk in stream:
            chunks.append(chunk)
            yield chunk
        # Only a complete utterance is cached: an abandoned stream never reaches this line.
        self.cache.put(key, chunks)

    def warm_up(self, phrases: Iterable[str], voice: str | None = None, speed: float = 1.0) -> int:
        """Synthesize every phrase not cached yet; return how many were synthesized.

        Warm-up is not traffic: it does not count as cache misses.
        """
        done = 0
        voice = voice or self.engine.default_voice
        for phrase in phrases:
            key = self.key(phrase, voice, speed)
            if key in self.cache:
                continue
            self.cache.put(key, list(self.engine.synthesize(key.text, voice, speed)))
            done += 1
        return done
