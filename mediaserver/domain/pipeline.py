"""The post-processing pipeline for final transcripts: ITN, entities, hot words, redaction.

Pure: text and options in, text and entity records out. State that costs time to build (the
NeMo grammars, hot-word correctors) lives in a `Postprocessor` made once per process.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mediaserver.domain import addresses, dates, identifiers, money, pixkeys
from mediaserver.domain.document import Document, Edit, Entity, Rewrite
from mediaserver.domain.itn import apply_itn
from mediaserver.domain.lexicon import ACRONYMS
from mediaserver.domain.normalizer import Counter, Normalizer
from mediaserver.domain.redaction import redact


class HotWordCorrector(Protocol):
    """What `mediaserver.domain.hotwords.HotWordCorrector` offers the pipeline."""

    def replacements(self, text: str, protected: Sequence[tuple[int, int]] = ()) -> list[Edit]: ...


CorrectorFactory = Callable[[tuple[str, ...]], HotWordCorrector]


def _default_corrector(hot_words: tuple[str, ...]) -> HotWordCorrector:
    # Imported on first use: only sessions with hot words pay for rapidfuzz & co.
    hotwords = importlib.import_module("mediaserver.domain.hotwords")
    corrector: HotWordCorrector = hotwords.HotWordCorrector(hot_words)
    return corrector


__all__ = ["Entity", "PostprocessOptions", "PostprocessResult", "Postprocessor", "Rewrite"]


@dataclass(frozen=True, slots=True)
class PostprocessOptions:
    itn: bool = True
    entities: bool = True
    # Masks CPF/CNPJ/phone/card digits; it needs the entities found, so it implies `entities`.
    redact: bool = False
    hot_words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PostprocessResult:
    text: str
    raw_text: str
    entities: list[Entity] = field(default_factory=list)
    hot_word_hits: int = 0


class Postprocessor:
    """Runs the stages on one final transcript at a time; reuse one instance per process.

    Not thread-safe (it memoises hot-word correctors and NeMo answers): use one per thread.
    """

    def __init__(
        self,
        normalizer: Normalizer | None = None,
        *,
        hot_word_hits: Counter | None = None,
        corrector_factory: CorrectorFactory = _default_corrector,
        correctors: int = 64,
    ) -> None:
        self._normalizer = normalizer
        self._make_corrector = corrector_factory
        self._hot_word_hits = hot_word_hits
        self._correctors: OrderedDict[tuple[str, ...], HotWordCorrector] = OrderedDict()
        self._max_correctors = correctors

    def process(
        self,
        text: str,
        options: PostprocessOptions | None = None,
        trace: list[Rewrite] | None = None,
    ) -> PostprocessResult:
        """Format one final transcript. The result is that of ITN, then entities, then hot
        words; entities are matched on the numbers as spoken before ITN writes the rest, so
        that ITN never joins or splits the digits of an entity.

        With `trace`, every change made is appended to it, in output order, with the rule
        that made it (`--explain`); without it nothing of the sort is built."""
        opts = options if options is not None else PostprocessOptions()
        doc = Document(text)
        if opts.entities or opts.redact:
            addresses.find_written(doc)
            pixkeys.find_pix_keys(doc)
            addresses.find_spoken(doc)
            money.find_money(doc)
            identifiers.find_identifiers(doc)
            dates.find_dates(doc)
            _upper_acronyms(doc)
        if opts.redact:
            doc.edits = [redact(edit) for edit in doc.edits]
        if opts.itn and self._normalizer is not None:
            apply_itn(doc, self._normalizer.cardinal)
        elif opts.itn:
            apply_itn(doc)
        out, entities = doc.render(trace)
        hits = 0
        if opts.hot_words:
            corrector = self._corrector(opts.hot_words)
            edits = corrector.replacements(out, [(e.start, e.end) for e in entities])
            if edits:
                out, entities = _apply(out, edits, entities, trace)
                hits = len(edits)
                if self._hot_word_hits is not None:
                    self._hot_word_hits.inc(hits)
        return PostprocessResult(out, text, entities, hits)

    def _corrector(self, hot_words: Sequence[str]) -> HotWordCorrector:
        key = tuple(hot_words)
        corrector = self._correctors.get(key)
        if corrector is None:
            corrector = self._make_corrector(key)
            self._correctors[key] = corrector
            if len(self._correctors) > self._max_correctors:
                self._correctors.popitem(last=False)
        else:
            self._correctors.move_to_end(key)
        return corrector


def _apply(
    text: str, edits: list[Edit], entities: list[Entity], trace: list[Rewrite] | None
) -> tuple[str, list[Entity]]:
    """Make the hot-word replacements (in text order, none inside an entity); the entities and
    the rewrites traced so far move with the text around them."""
    pieces: list[str] = []
    shifts: list[tuple[int, int]] = []  # (offset in `text` after which, total shift so far)
    cursor = shift = 0
    applied: list[Rewrite] = []
    for edit in edits:
        pieces += (text[cursor : edit.start], edit.text)
        at, before = edit.start + shift, text[edit.start : edit.end]
        applied.append(Rewrite(edit.rule, before, edit.text, at, at + len(edit.text)))
        shift += len(edit.text) - (edit.end - edit.start)
        shifts.append((edit.end, shift))
        cursor = edit.end
    pieces.append(text[cursor:])

    def moved(offset: int) -> int:
        return offset + next((s for end, s in reversed(shifts) if end <= offset), 0)

    entities = [dataclasses.replace(e, start=moved(e.start), end=moved(e.end)) for e in entities]
    if trace is not None:
        kept = [dataclasses.replace(r, start=moved(r.start), end=moved(r.end)) for r in trace]
        trace[:] = sorted(kept + applied, key=lambda r: r.start)
    return "".join(pieces), entities


def _upper_acronyms(doc: Document) -> None:
    for i, tok in enumerate(doc.tokens):
        if tok.norm in ACRONYMS and tok.text != tok.text.upper() and doc.is_free(i, i + 1):
            doc.claim(i, i + 1, Edit(tok.start, tok.end, tok.text.upper(), rule="acronym"))
