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

from mediaserver.domain import addresses, identifiers, money
from mediaserver.domain.document import Document, Edit, Entity
from mediaserver.domain.itn import apply_itn
from mediaserver.domain.lexicon import ACRONYMS
from mediaserver.domain.normalizer import Counter, Normalizer
from mediaserver.domain.redaction import redact


class HotWordCorrector(Protocol):
    """What `mediaserver.domain.hotwords.HotWordCorrector` offers the pipeline."""

    def correct(self, text: str) -> tuple[str, int]: ...


CorrectorFactory = Callable[[tuple[str, ...]], HotWordCorrector]


def _default_corrector(hot_words: tuple[str, ...]) -> HotWordCorrector:
    # Imported on first use: only sessions with hot words pay for rapidfuzz & co.
    hotwords = importlib.import_module("mediaserver.domain.hotwords")
    corrector: HotWordCorrector = hotwords.HotWordCorrector(hot_words)
    return corrector


__all__ = ["Entity", "PostprocessOptions", "PostprocessResult", "Postprocessor"]


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

    def process(self, text: str, options: PostprocessOptions | None = None) -> PostprocessResult:
        """Format one final transcript. The result is that of ITN, then entities, then hot
        words; entities are matched on the numbers as spoken before ITN writes the rest, so
        that ITN never joins or splits the digits of an entity."""
        opts = options if options is not None else PostprocessOptions()
        doc = Document(text)
        if opts.entities or opts.redact:
            addresses.find_written(doc)
            addresses.find_spoken(doc)
            money.find_money(doc)
            identifiers.find_identifiers(doc)
            _upper_acronyms(doc)
        if opts.redact:
            doc.edits = [redact(edit) for edit in doc.edits]
        if opts.itn and self._normalizer is not None:
            apply_itn(doc, self._normalizer.cardinal)
        elif opts.itn:
            apply_itn(doc)
        out, entities = doc.render()
        hits = 0
        if opts.hot_words:
            out, entities, hits = self._correct(out, entities, opts.hot_words)
        return PostprocessResult(out, text, entities, hits)

    def _correct(
        self, text: str, entities: list[Entity], hot_words: tuple[str, ...]
    ) -> tuple[str, list[Entity], int]:
        """Hot-word correction of the text between entities, which it never touches."""
        corrector = self._corrector(hot_words)
        pieces: list[str] = []
        moved: list[Entity] = []
        hits = pos = length = 0
        for ent in entities:
            fixed, n = _correct_between(corrector, text[pos : ent.start])
            pieces += [fixed, ent.text]
            length += len(fixed)
            hits += n
            moved.append(dataclasses.replace(ent, start=length, end=length + len(ent.text)))
            length += len(ent.text)
            pos = ent.end
        fixed, n = _correct_between(corrector, text[pos:])
        pieces.append(fixed)
        hits += n
        if hits and self._hot_word_hits is not None:
            self._hot_word_hits.inc(hits)
        return "".join(pieces), moved, hits

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


def _correct_between(corrector: HotWordCorrector, piece: str) -> tuple[str, int]:
    """Correct the words of a piece of text; the spaces at its ends (next to an entity) stay."""
    core = piece.strip()
    if not core:
        return piece, 0
    lead = piece[: len(piece) - len(piece.lstrip())]
    trail = piece[len(piece.rstrip()) :]
    fixed, hits = corrector.correct(core)
    return f"{lead}{fixed}{trail}", hits


def _upper_acronyms(doc: Document) -> None:
    for i, tok in enumerate(doc.tokens):
        if tok.norm in ACRONYMS and tok.text != tok.text.upper() and doc.is_free(i, i + 1):
            doc.claim(i, i + 1, Edit(tok.start, tok.end, tok.text.upper()))
