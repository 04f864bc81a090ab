""" "Did you mean" for mistyped model names (`faster-whisper-smal`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_CUTOFF = 0.75  # close enough that a suggestion is more help than noise


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` was most likely meant to be, or None."""
    pool = sorted({c for c in candidates if c != name})
    # Case slips (`Faster-Whisper-Small`) are compared without case; difflib is case-sensitive.
    by_lower = {c.lower(): c for c in pool}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=_CUTOFF)
    return by_lower[matches[0]] if matches else None
