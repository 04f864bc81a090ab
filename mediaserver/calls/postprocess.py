"""Post-processing of final transcripts for calls (ITN, entities, hot words, redaction).

The text work itself is `mediaserver.domain.pipeline.Postprocessor`: pure, not thread-safe, and
slow to build (NeMo grammars). Calls reach it through `Postprocess`, which runs it on one
dedicated thread, so a final never blocks the event loop and the instance is never shared
between threads. It is built on that thread on first use, so a server whose calls never
produce a final never loads NeMo.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from mediaserver.config import Settings
from mediaserver.domain.normalizer import Normalizer, itn_cache_dir
from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor
from mediaserver.observability import Metrics
from mediaserver.session.call_options import CallOptions

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FinalText:
    text: str
    raw_text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


class Postprocess(Protocol):
    async def __call__(self, text: str, options: CallOptions) -> FinalText: ...


class PassThrough:
    """No post-processing: `text` is the engine's text."""

    async def __call__(self, text: str, options: CallOptions) -> FinalText:
        return FinalText(text, text)


class ThreadedPostprocess:
    """The server's one `Postprocessor`, on its own thread, built there by `factory`.

    Calls (`__call__`) and batch requests (`run`) share it, so NeMo's grammars are loaded once.
    """

    def __init__(
        self, factory: Callable[[], Postprocessor], metrics: Metrics | None = None
    ) -> None:
        self._factory = factory
        self._metrics = metrics
        self._instance: Postprocessor | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="postprocess")

    def _get(self) -> Postprocessor:
        if self._instance is None:
            self._instance = self._factory()
        return self._instance

    async def start(self) -> None:
        """Build the pipeline (and load NeMo) now, awaiting it: the server calls this before
        it serves anything, because the build holds the GIL and would stall live audio."""
        await self.run(lambda processor: None)

    async def run(self, fn: Callable[[Postprocessor], T]) -> T:
        """`fn(postprocessor)` on the post-processing thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._get()))

    def _process(self, processor: Postprocessor, text: str, options: CallOptions) -> FinalText:
        started = time.perf_counter()
        result = processor.process(
            text,
            PostprocessOptions(
                itn=options.itn,
                entities=options.entities,
                redact=options.redact,
                hot_words=options.hot_words,
            ),
        )
        if self._metrics is not None:
            self._metrics.postprocess_seconds.observe(time.perf_counter() - started)
        return FinalText(result.text, result.raw_text, [e.to_dict() for e in result.entities])

    async def __call__(self, text: str, options: CallOptions) -> FinalText:
        if not text:
            return FinalText("", "")
        return await self.run(lambda p: self._process(p, text, options))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def default_postprocess(settings: Settings, metrics: Metrics) -> ThreadedPostprocess:
    """The server's pipeline: NeMo grammars cached under the models directory."""

    def build() -> Postprocessor:
        normalizer = Normalizer(
            itn_cache_dir(settings.models.path),
            failures=metrics.itn_failures,
            use_nemo=settings.postprocess.nemo,
        )
        normalizer.load()
        return Postprocessor(normalizer, hot_word_hits=metrics.hot_word_hits)

    return ThreadedPostprocess(build, metrics)
