"""Where a call's partial transcripts come from: the one place that reads `architecture`.

An encoder-decoder (Whisper) re-decodes the growing utterance, and its hypotheses may rewrite
earlier words, so only the words two consecutive decodes agree on (LocalAgreement-2) are
published; the final is the final decode's text, which may revise them. A CTC model's
hypotheses grow monotonically by construction: they are its native partials and are published
as they change. Pure: hypotheses in, texts to publish out.
"""

from __future__ import annotations

from typing import Protocol

from mediaserver.session.hypotheses import Architecture, Hypothesis
from mediaserver.session.local_agreement import LocalAgreement


class PartialPolicy(Protocol):
    def partial(self, hypothesis: Hypothesis) -> str | None:
        """The partial text to publish after this hypothesis, or None (nothing new)."""

    def final(self, hypothesis: Hypothesis) -> str:
        """The utterance's final text from the engine's final hypothesis."""


class StablePartials:
    """LocalAgreement-2: publish the agreed prefix each time it grows."""

    def __init__(self) -> None:
        self._agreement = LocalAgreement()

    def partial(self, hypothesis: Hypothesis) -> str | None:
        agreement = self._agreement.update(hypothesis.text.split())
        return agreement.stable_text if agreement.newly_committed else None

    def final(self, hypothesis: Hypothesis) -> str:
        # The final decode has the whole utterance and the silence after it: it replaces the
        # partials, which were decoded on part of a word and can be wrong in ways two of them
        # agree on ("Dari age" for "That agent"). Holding the final to them cost 25 points of
        # WER with faster-whisper base (benchmarks/realtime_latency.py).
        self._agreement.reset()
        return " ".join(hypothesis.text.split())


class NativePartials:
    """The engine's own partials, published whenever the text changes."""

    def __init__(self) -> None:
        self._last = ""

    def partial(self, hypothesis: Hypothesis) -> str | None:
        text = hypothesis.text.strip()
        if not text or text == self._last:
            return None
        self._last = text
        return text

    def final(self, hypothesis: Hypothesis) -> str:
        self._last = ""
        return hypothesis.text.strip()


def partials_for(architecture: Architecture) -> PartialPolicy:
    """A fresh policy for one utterance of a model of this architecture."""
    if architecture is Architecture.ENCODER_DECODER:
        return StablePartials()
    return NativePartials()


def confidence(hypothesis: Hypothesis) -> float | None:
    """Mean word probability when the engine gives word probabilities; None otherwise."""
    if not hypothesis.words:
        return None
    return round(sum(w.probability for w in hypothesis.words) / len(hypothesis.words), 4)
