"""NeMo's Portuguese inverse normalizer, loaded once per process from a grammar cache.

NeMo is given only what it does well: the spoken cardinals our parser has already delimited
(`dois mil e vinte e cinco`). Run on whole sentences it breaks rules of POSTPROCESSING.md
(it turns spoken CPFs into phone numbers, writes `10 %`, `25000`, `R$ 1 milhão`), so the
sentence structure, digit runs, decimals, percent and entities stay with our own pass.
When NeMo is missing, fails to load or returns something that is not a plain integer, our
parser's value is used and the failure is counted: post-processing never loses a transcript.

Compiling the grammars takes seconds; the compiled `.far` is written once into the cache
directory (atomically, so concurrent first starts never read a half-written file) and only
loaded afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

FAR_NAME = "pt_itn_lower_cased.far"


class Counter(Protocol):
    """What the normalizer needs of a metric: `Metrics.itn_failures` fits."""

    def inc(self, amount: float = 1) -> None: ...


def itn_cache_dir(models_dir: Path) -> Path:
    """Where the compiled grammars live: `<models dir>/cache/itn`."""
    return models_dir / "cache" / "itn"


class Normalizer:
    """Spoken cardinal -> integer through NeMo, memoised; create one per process and reuse it."""

    def __init__(
        self,
        cache_dir: Path | None,
        *,
        failures: Counter | None = None,
        use_nemo: bool = True,
        memo_size: int = 4096,
    ) -> None:
        self.cache_dir = cache_dir
        self._failures = failures
        self._use_nemo = use_nemo
        self._nemo: Any = None
        self._load_error: str | None = None
        self._memo: OrderedDict[str, int | None] = OrderedDict()
        self._memo_size = memo_size

    @property
    def loaded(self) -> bool:
        return self._nemo is not None

    @property
    def load_error(self) -> str | None:
        """Why NeMo is not in use (None while it is, or before the first attempt)."""
        return self._load_error

    def load(self) -> bool:
        """Load NeMo now (building the grammar cache if it is missing); True if it is usable."""
        if self._nemo is not None or self._load_error is not None:
            return self._nemo is not None
        if not self._use_nemo:
            self._load_error = "disabled"
            return False
        try:
            self._nemo = _load_nemo(self.cache_dir)
        except Exception as exc:  # any failure of an optional engine means: use the fallback
            self._load_error = f"{type(exc).__name__}: {exc}"
            self._count_failure()
            return False
        return True

    def cardinal(self, words: str, fallback: int) -> int:
        """The value of a spoken cardinal; `fallback` (our parser's) when NeMo cannot say."""
        if not self.load():
            return fallback
        key = words.lower()
        if key in self._memo:
            self._memo.move_to_end(key)
            cached = self._memo[key]
        else:
            cached = self._ask_nemo(key)
            self._memo[key] = cached
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        if cached is None:
            self._count_failure()
            return fallback
        return cached

    def _ask_nemo(self, words: str) -> int | None:
        try:
            out = str(self._nemo.inverse_normalize(words, verbose=False)).strip()
        except Exception:  # NeMo raising on one phrase must not cost the transcript
            return None
        return int(out) if out.isdigit() else None

    def _count_failure(self) -> None:
        if self._failures is not None:
            self._failures.inc()


def _load_nemo(cache_dir: Path | None) -> Any:
    from nemo_text_processing.inverse_text_normalization.inverse_normalize import (
        InverseNormalizer,
    )

    # NeMo installs its own stderr handler; its records should reach the application's
    # logging setup once, in the application's format.
    logging.getLogger("NeMo-text-processing").handlers.clear()

    if cache_dir is None:
        return InverseNormalizer(lang="pt")
    cache_dir.mkdir(parents=True, exist_ok=True)
    if (cache_dir / FAR_NAME).exists():
        # A truncated or foreign file fails to load: it is compiled again below.
        with contextlib.suppress(Exception):
            return InverseNormalizer(lang="pt", cache_dir=str(cache_dir))
    # Build into a private directory, then move the file into place in one step.
    build_dir = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        nemo = InverseNormalizer(lang="pt", cache_dir=str(build_dir))
        os.replace(build_dir / FAR_NAME, cache_dir / FAR_NAME)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    return nemo
