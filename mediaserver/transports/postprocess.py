"""Post-processing of final transcripts for calls (ITN, entities, hot words, redaction).

The text work itself is `mediaserver.domain.pipeline.Postprocessor` (pure, not thread-safe,
slow to build: NeMo grammars). Calls reach it through `Postprocess`, which runs it on one
dedicated thread so a final never blocks the event loop and the instance is never shared
between threads. Without the domain pipeline installed, finals pass through unchanged.
"""

from __future__ import annotations

import asyncio
import importlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from mediaserver.session.call_options import CallOptions


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
    """The domain pipeline on its own thread (built there on first use)."""

    def __init__(self, factory: Any, options_type: Any) -> None:
        self._factory = factory
        self._options_type = options_type
        self._instance: Any = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="postprocess")

    def _process(self, text: str, options: CallOptions) -> FinalText:
        if self._instance is None:
            self._instance = self._factory()
        opts = self._options_type(
            itn=options.itn,
            entities=options.entities,
            redact=options.redact,
            hot_words=options.hot_words,
        )
        result = self._instance.process(text, opts)
        entities = [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in result.entities]
        return FinalText(str(result.text), text, entities)

    async def __call__(self, text: str, options: CallOptions) -> FinalText:
        if not text:
            return FinalText("", "")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._process, text, options)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def default_postprocess() -> Postprocess:
    """The domain pipeline when it is importable, else pass-through."""
    try:
        pipeline = importlib.import_module("mediaserver.domain.pipeline")
    except ImportError:
        return PassThrough()
    return ThreadedPostprocess(pipeline.Postprocessor, pipeline.PostprocessOptions)
