"""Text to speech for the API and the CLI: model and voice checks, pt-BR normalization, the
audio cache and its warm-up run here, in the main process; synthesis runs in the model's TTS
worker (`Supervisor.synthesize`).

    tts = TtsService(supervisor, registry, settings, metrics)
    stream = await tts.open("Seu saldo é R$ 1.234,56.", voice="pt-br")
    try:
        async for pcm in stream:  # mono int16 at stream.sample_rate, clause by clause
            ...
    finally:
        await stream.aclose()

`open` does everything that can fail because of the request before it returns (unknown
model or voice, empty or too long text, speed out of range, the worker refusing the text), so
a streamed response never starts and then fails through the caller's fault.

The cache sits here rather than in the workers: a hit costs no worker slot and no IPC, and it
survives a worker restart or idle unload. Keys are (model, voice, speed, speakable text), so
"R$ 10" and "dez reais" share one entry. Only complete utterances are cached: a stream closed
early stores nothing.

Voice `None` is the model's default: `tts.default_voice` for the default model
(`models.default_tts`), the voice in the model's own config for any other. The pt-BR
normalization (`mediaserver.domain.speakable`) applies to Portuguese voices (and to a model's
default voice); an English voice reads "R$ 10" its own way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import structlog

from mediaserver.audio.pcm import Pcm16
from mediaserver.config import Settings
from mediaserver.domain.speakable import speakable
from mediaserver.engines.base import ModelLoadError
from mediaserver.engines.models.registry import InstalledModel, Registry
from mediaserver.engines.supervision.build import tts_model
from mediaserver.engines.supervision.supervisor import Supervisor
from mediaserver.engines.tts import create_tts_engine
from mediaserver.engines.tts.base import UnknownVoiceError, Voice, check_speed, check_text
from mediaserver.engines.tts.cache import CacheKey, TtsCache
from mediaserver.observability import Metrics

log = structlog.get_logger("mediaserver.engines.tts.service")

MAX_INPUT_CHARS: Final = 4096  # OpenAI's limit for /v1/audio/speech


class EmptyTextError(ValueError):
    """The text holds nothing an engine can say (only punctuation, say)."""


class InvalidVoiceError(UnknownVoiceError):
    """A voice the model does not have; the message suggests Portuguese voices first."""

    def __init__(self, voice: str, voices: Sequence[Voice], model: str) -> None:
        super().__init__(voice, [v.id for v in voices], model)
        ours = [v.id for v in voices if v.language.lower().startswith("pt")]
        shown = ", ".join([*ours, *(v.id for v in voices if v.id not in ours)][:8])
        self.args = (
            f"model {model!r} has no voice {voice!r} (OpenAI's voice names are not ours); "
            f"try {shown} ({len(voices)} voices in all)",
        )


@dataclass(frozen=True, slots=True)
class ModelVoice:
    """A voice of an installed TTS model (a row of GET /v1/voices)."""

    model: str
    voice: Voice


class TtsStream:
    """One utterance: `sample_rate` and whether it came from the cache are known up front.

    Iterate it once; `aclose` frees the worker slot when the caller stops early.
    """

    def __init__(
        self,
        model: str,
        sample_rate: int,
        chunks: AsyncIterator[Pcm16],
        *,
        cached: bool,
    ) -> None:
        self.model = model
        self.sample_rate = sample_rate
        self.cached = cached
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[Pcm16]:
        return self._chunks

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()


async def _replay(chunks: Sequence[Pcm16]) -> AsyncIterator[Pcm16]:
    for chunk in chunks:
        yield chunk


class TtsService:
    def __init__(
        self,
        supervisor: Supervisor,
        registry: Registry,
        settings: Settings,
        metrics: Metrics | None = None,
        *,
        cache: TtsCache | None = None,
        normalize: Callable[[str], str] = speakable,
    ) -> None:
        self.supervisor = supervisor
        self.registry = registry
        self.settings = settings
        self.cache = cache if cache is not None else TtsCache.from_settings(settings.tts, metrics)
        if metrics is not None:
            metrics.tts_cache_entries.set_function(lambda: len(self.cache))
        self._normalize = normalize
        # Per installed copy of a model (see `_engine_id`): its audio's rate, its voices.
        self._rates: dict[str, int] = {}  # learned from its worker
        self._voices: dict[str, list[Voice]] = {}
        self._warm_up: asyncio.Task[int] | None = None

    # -- requests -------------------------------------------------------------------------

    def model(self, name: str | None) -> InstalledModel:
        """The TTS model `name` (default `models.default_tts`); 404/400-worthy errors otherwise."""
        return tts_model(self.registry, name or self.settings.models.default_tts)

    async def open(
        self,
        text: str,
        *,
        model: str | None = None,
        voice: str | None = None,
        speed: float = 1.0,
    ) -> TtsStream:
        """Start saying `text`; raises before any audio for every fault of the request."""
        installed = self.model(model)
        name = installed.name
        voice, portuguese = await self._checked_voice(installed, voice)
        said = self._speakable(text, portuguese)
        key = CacheKey.of(_engine_id(installed), voice, check_speed(speed), said)
        rate = self._rates.get(key.engine)
        cached = self.cache.get(key)
        if cached is not None and rate is not None:
            return TtsStream(name, rate, _replay(cached), cached=True)
        chunks = self._synthesized(name, key.text, voice, speed)
        try:
            first, first_rate = await anext(chunks)
        except StopAsyncIteration:
            raise EmptyTextError("the input holds nothing to say") from None
        except BaseException:
            await chunks.aclose()
            raise
        self._rates[key.engine] = first_rate
        return TtsStream(name, first_rate, self._recorded(key, first, chunks), cached=False)

    def _speakable(self, text: str, portuguese: bool = True) -> str:
        if not isinstance(text, str):
            raise ValueError(f"input must be a string, got {type(text).__name__}")
        if len(text) > MAX_INPUT_CHARS:
            raise ValueError(
                f"input is {len(text)} characters long; the limit is {MAX_INPUT_CHARS}"
            )
        text = check_text(text)
        return check_text(self._normalize(text)) if portuguese else text

    async def _checked_voice(self, model: InstalledModel, voice: str | None) -> tuple[str, bool]:
        """The voice to ask the worker for ("" = the engine's default), and whether it speaks
        Portuguese (pt-BR normalization is for Portuguese voices only; unknown: assume so)."""
        if voice is None or voice == "":
            default = model.name == self.settings.models.default_tts
            voice = self.settings.tts.default_voice if default else ""
        voices = await self.model_voices(model)
        if not voice or not voices:
            return voice, True
        by_id = {v.id: v for v in voices}
        found = by_id.get(voice) or by_id.get(voice.lower())
        if found is None:
            raise InvalidVoiceError(voice, voices, model.name)
        return voice, found.language in ("und", "") or found.language.lower().startswith("pt")

    async def _synthesized(
        self, model: str, text: str, voice: str, speed: float
    ) -> AsyncGenerator[tuple[Pcm16, int], None]:
        source = self.supervisor.synthesize(model, text, voice, speed=speed)
        try:
            async for pcm, rate in source:
                if pcm:
                    yield np.frombuffer(pcm, "<i2").astype(np.int16, copy=False), rate
        finally:
            await source.aclose()  # frees the worker slot at once when the caller stops early

    async def _recorded(
        self, key: CacheKey, first: Pcm16, rest: AsyncGenerator[tuple[Pcm16, int], None]
    ) -> AsyncGenerator[Pcm16, None]:
        chunks = [first]
        try:
            yield first
            async for pcm, _rate in rest:
                chunks.append(pcm)
                yield pcm
        finally:
            await rest.aclose()
        # Reached only when the whole utterance was produced and read.
        self.cache.put(key, chunks)

    # -- warm-up --------------------------------------------------------------------------

    async def warm_up(
        self,
        phrases: Iterable[str] | None = None,
        *,
        model: str | None = None,
        voice: str | None = None,
    ) -> int:
        """Cache the configured phrases (`tts.warmup_phrases`); how many were synthesized.

        Warm-up is not traffic: it counts neither hits nor misses.
        """
        installed = self.model(model)
        voice, portuguese = await self._checked_voice(installed, voice)
        done = 0
        for phrase in self.settings.tts.warmup_phrases if phrases is None else phrases:
            said = self._speakable(phrase, portuguese)
            key = CacheKey.of(_engine_id(installed), voice, 1.0, said)
            if key in self.cache:
                continue
            pieces = [p async for p in self._synthesized(installed.name, key.text, voice, 1.0)]
            if pieces:
                self._rates[key.engine] = pieces[0][1]
                self.cache.put(key, [pcm for pcm, _ in pieces])
                done += 1
        return done

    def start_warm_up(self) -> None:
        """Warm the cache in the background (server start); failures are logged, not raised."""
        if self._warm_up is None and self.settings.tts.warmup_phrases:
            self._warm_up = asyncio.get_running_loop().create_task(self._logged_warm_up())

    async def _logged_warm_up(self) -> int:
        try:
            done = await self.warm_up()
        except Exception as exc:  # a missing default model must not stop the server
            log.warning("tts.warm_up_failed", error=type(exc).__name__, reason=str(exc))
            return 0
        log.info("tts.warmed_up", phrases=done, cached=len(self.cache))
        return done

    async def warmed_up(self) -> int:
        """Wait for the background warm-up (tests, readiness); 0 when none runs."""
        return 0 if self._warm_up is None else await asyncio.shield(self._warm_up)

    async def aclose(self) -> None:
        if self._warm_up is not None and not self._warm_up.done():
            self._warm_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm_up

    # -- voices ---------------------------------------------------------------------------

    async def model_voices(self, model: InstalledModel) -> list[Voice]:
        """The voices of an installed TTS model ([] when they cannot be listed)."""
        voices = self._voices.get(_engine_id(model))
        if voices is None:
            try:
                voices = await asyncio.to_thread(list_voices, model)
            except ModelLoadError as exc:
                log.warning("tts.voices_unavailable", model=model.name, reason=str(exc))
                return []
            self._voices[_engine_id(model)] = voices
        return voices

    async def voices(self, model: str | None = None) -> list[ModelVoice]:
        """Voices of every installed TTS model (or of `model`), for GET /v1/voices."""
        if model is not None:
            models = [tts_model(self.registry, model)]
        else:
            installed = await asyncio.to_thread(self.registry.installed)
            models = [m for m in installed if m.manifest.type == "tts"]
        return [ModelVoice(m.name, v) for m in models for v in await self.model_voices(m)]


def _engine_id(model: InstalledModel) -> str:
    """The model's name, plus its install time: a model removed and pulled again (other
    voices, another rate) never meets the audio or voices of the copy it replaced."""
    at = model.manifest.installed_at
    return model.name if at is None else f"{model.name}@{at.isoformat()}"


def list_voices(model: InstalledModel) -> list[Voice]:
    """Voices from the manifest (Kokoro lists its voice files there); espeak-ng's from its
    library, which is cheap to load here (ctypes, no model files)."""
    manifest = model.manifest
    if manifest.engine == "kokoro":
        from mediaserver.engines.tts.kokoro import voice_info

        return [voice_info(v) for v in manifest.voices]
    if manifest.engine == "espeak-ng":
        engine = create_tts_engine("espeak-ng")
        engine.load(model.model_info())
        return sorted(engine.voices(), key=lambda v: v.id)
    return [Voice(v, "und", "unknown", manifest.engine) for v in manifest.voices]
