"""LocalAgreement-2: stable partials from an encoder-decoder that re-decodes a growing window.

Each re-decode of the utterance gives a hypothesis (a word list). A word is committed once two
consecutive hypotheses agree on it and on everything before it: the committed text is the longest
common prefix of the last two hypotheses, and it only ever grows. Words after it are the
tentative tail, still liable to change. The final is the utterance's own decode, not this:
partials are provisional (see `mediaserver.session.transcripts`).

Pure: no clock, no I/O; the session feeds hypotheses in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def _normalize(word: str) -> str:
    """Words compare without case and surrounding punctuation: "Olá," agrees with "olá"."""
    return word.strip(" \t\n.,;:!?¿¡\"'()[]…").casefold()


@dataclass(frozen=True, slots=True)
class Agreement:
    """What one hypothesis changed."""

    committed: tuple[str, ...]  # every word committed so far (stable: a prefix of what follows)
    newly_committed: tuple[str, ...]  # the words this hypothesis committed
    tentative: tuple[str, ...]  # the rest of the latest hypothesis, not yet agreed on

    @property
    def stable_text(self) -> str:
        return " ".join(self.committed)

    @property
    def text(self) -> str:
        """Committed words followed by the tentative tail (what a UI shows greyed)."""
        return " ".join((*self.committed, *self.tentative))


class LocalAgreement:
    """LocalAgreement-2 over the hypotheses of one utterance."""

    def __init__(self) -> None:
        self._committed: list[str] = []
        self._previous: tuple[str, ...] | None = None

    @property
    def committed(self) -> tuple[str, ...]:
        return tuple(self._committed)

    def update(self, words: Sequence[str]) -> Agreement:
        """Feed the next hypothesis (all words of the utterance so far)."""
        current = _clean(words)
        done = len(self._committed)
        fresh: tuple[str, ...] = ()
        if self._previous is not None:
            # Compared past the committed words only: a re-decode that rewords an already
            # committed word (which was published and stands) must not stall agreement forever.
            agreed = _common_prefix(self._previous[done:], current[done:])
            fresh = current[done : done + agreed]
            self._committed.extend(fresh)
        self._previous = current
        return Agreement(self.committed, fresh, current[len(self._committed) :])

    def reset(self) -> None:
        """Start a new utterance."""
        self._committed.clear()
        self._previous = None


def _clean(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(word.strip() for word in words if word.strip())


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common prefix of two word lists (normalized comparison)."""
    length = 0
    for left, right in zip(a, b, strict=False):
        if _normalize(left) != _normalize(right):
            break
        length += 1
    return length
