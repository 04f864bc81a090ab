"""Hot-word correction: likely mis-recognitions of configured words become those words.

A recogniser that has never heard of `PicPay` writes `pic pei`; a caller who configured the hot
word gets `PicPay` back. A word, or a run of adjacent words that merge (`nu bank` → `Nubank`,
`banco do brasil` → `Banco do Brasil`), is replaced by a hot word written exactly as configured
when one of these holds, best first:

1. exact: it equals the hot word ignoring case, accents and inner punctuation (`itau` → `Itaú`);
2. phonetic: it sounds the same under the pt-BR key of `phonetic.py` (`pics` → `PIX`);
3. similar: rapidfuzz `ratio` of the folded forms is at least 80 (`bradeco` → `Bradesco`).

Ordinary words must survive, so the loose matches carry guards, found by running frequent
pt-BR words through them:

- a candidate of fewer than 3 letters is replaced only on an exact match (`de`, `o`, `um`);
- a word split in two merges loosely only into a hot word of 5 letters or more: recognisers
  split long unknown names (`nu banque`), while `do que` and `te de` are not `DOC` and `TED`;
- a run of words is similar to a multi-word hot word only word by word (`tesouro de` is not
  `Tesouro Direto`), and a split word merges on an exact or phonetic match only;
- a hot word of fewer than 3 letters matches only exactly; one with a digit (`C6`) matches
  nothing, because words with digits are entities and left as written;
- phonetic: the spellings are still at least 50 alike, which also spares computing the key of
  most candidates;
- similar: both start with the same sound (`baixa`, `faixa` are not `Caixa`), and the candidate
  is not the hot word with letters inserted (`caixas`, `interno`, `inteira`, and for three-letter
  acronyms every near match: `doce` is not `DOC`): those are other words built on the same
  letters, not mis-hearings.

A hot word of several words also matches its words written together or split elsewhere
(`mercadopago` → `Mercado Pago`, `bancodo brasil` → `Banco do Brasil`); a hot word that is
also an ordinary word (`Caixa`) needs banking context, see `hotword_context.py`.

A run of words is replaced only when it scores better than every shorter run inside it, so
`o pix` stays `o PIX` instead of swallowing the article. Words carrying digits, `@`, `$`, `%`,
`/` or `_` are formatted entities and are never touched, nor merged across. Punctuation around
a word stays (`pics,` → `PIX,`), and a merge never crosses punctuation.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from mediaserver.domain.document import Edit
from mediaserver.domain.hotword_context import ORDINARY_WORDS, capitalised_mid_sentence, in_context
from mediaserver.domain.phonetic import phonetic_key

SIMILARITY_THRESHOLD = 80.0
_PHONETIC_MIN_RATIO = 50.0
_MIN_LOOSE_LETTERS = 3
_MIN_SPLIT_LETTERS = 5

# Match classes, compared as the first element of a score tuple.
_SIMILAR, _PHONETIC, _EXACT = 1, 2, 3
_RULES = {_SIMILAR: "hotword.similar", _PHONETIC: "hotword.phonetic", _EXACT: "hotword.exact"}

_TOKEN = re.compile(r"\S+")
_CORE = re.compile(r"\w(?:.*\w)?", re.DOTALL)
_ENTITY = re.compile(r"[\d@$%/_]")

_Score = tuple[int, float, int]  # (match class, ratio, letters covered)


def fold(text: str) -> str:
    """Lower case, accents removed, only letters and digits kept (spaces and marks dropped)."""
    lowered = text.lower()
    if lowered.isascii():  # the common case, without the cost of a decomposition
        return lowered if lowered.isalnum() else "".join(filter(str.isalnum, lowered))
    return "".join(filter(str.isalnum, unicodedata.normalize("NFD", lowered)))


@dataclass(frozen=True, slots=True)
class _HotWord:
    text: str  # written verbatim on a match
    folded: str
    key: str
    parts: tuple[tuple[str, str], ...]  # (folded, key) of each of its words
    loose: bool  # may match phonetically or by ratio
    ordinary: bool  # also an everyday word: replaces one only in banking context

    @property
    def max_words(self) -> int:
        # n or n+1 words (one of them split in two), so the output never has more words
        return len(self.parts) + 1

    @property
    def max_loose_words(self) -> int:
        """Recognisers split long unknown names (`nu banque`); `do que` is not `DOC`."""
        return self.max_words if len(self.folded) >= _MIN_SPLIT_LETTERS else len(self.parts)


@dataclass(frozen=True, slots=True)
class _Token:
    start: int  # span of the word's core in the text, punctuation excluded
    end: int
    core: str
    folded: str
    lead: bool  # punctuation before the core (a merge may not start before it)
    trail: bool  # punctuation after the core (a merge may not continue past it)
    blocked: bool  # an entity or no letters at all: never replaced, never merged


@dataclass(frozen=True, slots=True)
class _Window:
    first: int  # token indices, inclusive
    last: int
    folded: str
    core: str


class HotWordCorrector:
    """Replaces likely mis-recognitions of `hot_words` in final transcripts.

    Build one per hot-word list (per session or per request) and call `correct` per segment;
    everything that depends only on the list is computed here.
    """

    def __init__(self, hot_words: Sequence[str]) -> None:
        if isinstance(hot_words, str):
            raise ValueError("hot_words must be a sequence of words, not one string")
        entries: list[_HotWord] = []
        seen: set[str] = set()
        for position, raw in enumerate(hot_words):
            entry = _parse_hot_word(position, raw)
            if entry.folded not in seen:  # the first spelling of a duplicate wins
                seen.add(entry.folded)
                entries.append(entry)
        self._hot_words: tuple[_HotWord, ...] = tuple(entries)
        self._exact: dict[str, int] = {hot.folded: i for i, hot in enumerate(entries)}
        self._loose_index = [i for i, hot in enumerate(entries) if hot.loose]
        self._loose_folded = [entries[i].folded for i in self._loose_index]
        self._max_window = max((hot.max_words for hot in entries), default=0)
        # A run three times longer than every hot word is under 50 alike any of them.
        self._max_letters = 3 * max((len(hot.folded) for hot in entries), default=0)
        # allowed[n, j]: a run of n words may be compared with loose hot word j.
        self._allowed = np.zeros((self._max_window + 1, len(self._loose_index)), dtype=bool)
        for j, i in enumerate(self._loose_index):
            # From one word (all its words written together) up to one more than it has.
            self._allowed[1 : entries[i].max_loose_words + 1, j] = True

    @property
    def hot_words(self) -> tuple[str, ...]:
        """The hot words as configured, duplicates removed."""
        return tuple(hot.text for hot in self._hot_words)

    def correct(self, text: str) -> tuple[str, int]:
        """Return `text` with mis-recognised hot words replaced, and the number replaced."""
        edits = self.replacements(text)
        if not edits:
            return text, 0
        pieces: list[str] = []
        cursor = 0
        for edit in edits:
            pieces += (text[cursor : edit.start], edit.text)
            cursor = edit.end
        pieces.append(text[cursor:])
        return "".join(pieces), len(edits)

    def replacements(self, text: str, protected: Sequence[tuple[int, int]] = ()) -> list[Edit]:
        """The replacements to make in `text`, in text order, each naming the rule that chose
        it. Words overlapping a `protected` span (a formatted entity) are never touched, but
        count as words around a candidate. A replacement that would write exactly what is
        already there is not made."""
        if not self._hot_words:
            return []
        tokens = _tokenize(text, protected)
        windows = self._windows(tokens)
        if not windows:
            return []
        best = self._best_matches(tokens, windows)
        self._drop_out_of_context(text, tokens, windows, best)
        edits: list[Edit] = []
        for index in _choose(windows, best):
            window = windows[index]
            start, end = tokens[window.first].start, tokens[window.last].end
            (match_class, _, _), hot_index = best[index]
            replacement = self._hot_words[hot_index].text
            if text[start:end] != replacement:
                edits.append(Edit(start, end, replacement, rule=_RULES[match_class]))
        return edits

    def _drop_out_of_context(
        self,
        text: str,
        tokens: Sequence[_Token],
        windows: Sequence[_Window],
        best: dict[int, tuple[_Score, int]],
    ) -> None:
        """Forget matches of ordinary-word hot words that lack banking context (§5)."""
        folded: list[str] | None = None
        for index, (_, hot_index) in list(best.items()):
            if not self._hot_words[hot_index].ordinary:
                continue
            window = windows[index]
            if capitalised_mid_sentence(text, tokens[window.first].start):
                continue
            if folded is None:
                folded = [t.folded for t in tokens]
            if not in_context(folded, window.first, window.last):
                del best[index]

    def _windows(self, tokens: Sequence[_Token]) -> list[_Window]:
        """Every run of 1..max_window mergeable words."""
        windows: list[_Window] = []
        for first, token in enumerate(tokens):
            if token.blocked:
                continue
            folded, core = token.folded, token.core
            windows.append(_Window(first, first, folded, core))
            for last in range(first + 1, min(first + self._max_window, len(tokens))):
                previous, current = tokens[last - 1], tokens[last]
                if current.blocked or previous.trail or current.lead:
                    break
                folded += current.folded
                if len(folded) > self._max_letters:
                    break
                core += current.core
                windows.append(_Window(first, last, folded, core))
        return windows

    def _best_matches(
        self, tokens: Sequence[_Token], windows: Sequence[_Window]
    ) -> dict[int, tuple[_Score, int]]:
        """For each window that matches some hot word: its best score and that hot word."""
        best: dict[int, tuple[_Score, int]] = {}
        for index, window in enumerate(windows):
            hot_index = self._exact.get(window.folded)
            if hot_index is not None and self._fits(hot_index, window):
                best[index] = ((_EXACT, 100.0, len(window.folded)), hot_index)
        queries = [
            i
            for i, window in enumerate(windows)
            if i not in best and len(window.folded) >= _MIN_LOOSE_LETTERS
        ]
        if not queries or not self._loose_index:
            return best
        ratios = process.cdist(
            [windows[i].folded for i in queries],
            self._loose_folded,
            scorer=fuzz.ratio,
            score_cutoff=_PHONETIC_MIN_RATIO,
        )
        sizes = np.array([windows[i].last - windows[i].first + 1 for i in queries])
        rows, columns = np.nonzero((ratios > 0) & self._allowed[sizes])
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            index, hot_index = queries[row], self._loose_index[column]
            ratio = float(ratios[row, column])
            score = self._loose_score(tokens, windows[index], hot_index, ratio)
            if score is not None and (index not in best or score > best[index][0]):
                best[index] = (score, hot_index)
        return best

    def _fits(self, hot_index: int, window: _Window) -> bool:
        return window.last - window.first + 1 <= self._hot_words[hot_index].max_words

    def _loose_score(
        self, tokens: Sequence[_Token], window: _Window, hot_index: int, ratio: float
    ) -> _Score | None:
        """The phonetic or similarity score of `window` against a hot word, or None."""
        hot = self._hot_words[hot_index]
        size = window.last - window.first + 1
        key = phonetic_key(window.core)
        if key and key == hot.key:
            return (_PHONETIC, ratio, len(window.folded))
        if not _similar(window.folded, key, hot.folded, hot.key, ratio):
            return None
        if size == 1:
            return (_SIMILAR, ratio, len(window.folded))
        # A run of words is similar only word by word: otherwise `tesouro de` would pass for
        # `Tesouro Direto` and `mercado o` for `Mercado Pago`, the short word standing in for
        # the letters that are missing.
        if size != len(hot.parts):
            return None
        for token, (part_folded, part_key) in zip(
            tokens[window.first : window.last + 1], hot.parts, strict=True
        ):
            if token.folded != part_folded and not _loosely_equal(token, part_folded, part_key):
                return None
        return (_SIMILAR, ratio, len(window.folded))


def _parse_hot_word(position: int, raw: object) -> _HotWord:
    if not isinstance(raw, str):
        raise ValueError(f"hot word #{position} is a {type(raw).__name__}, not a string")
    text = " ".join(raw.split())
    if not text:
        raise ValueError(f"hot word #{position} is blank")
    folded = fold(text)
    if not folded:
        raise ValueError(f"hot word #{position} ({text!r}) has no letters or digits")
    letters_only = folded.isalpha()
    return _HotWord(
        text=text,
        folded=folded,
        key=phonetic_key(text) if letters_only else "",
        parts=tuple((fold(word), phonetic_key(word)) for word in text.split()),
        loose=letters_only and len(folded) >= _MIN_LOOSE_LETTERS,
        ordinary=folded in ORDINARY_WORDS,
    )


def _tokenize(text: str, protected: Sequence[tuple[int, int]] = ()) -> list[_Token]:
    """Words with their cores; the words of one protected entity count as one word (the rest
    get no folded form), so that `R$ 100,00` is as far from its neighbours as `cem reais`."""
    tokens: list[_Token] = []
    entity = None
    for match in _TOKEN.finditer(text):
        word = match.group()
        core = _CORE.search(word)
        if core is None:  # punctuation only: a barrier between the words around it
            tokens.append(_Token(match.start(), match.end(), "", "", True, True, True))
            continue
        folded = fold(core.group())
        inside = next((p for p in protected if p[0] < match.end() and match.start() < p[1]), None)
        if inside is not None and inside == entity:
            folded = ""
        entity = inside
        blocked = inside is not None or not folded or _ENTITY.search(word) is not None
        tokens.append(
            _Token(
                start=match.start() + core.start(),
                end=match.start() + core.end(),
                core=core.group(),
                folded=folded,
                lead=core.start() > 0,
                trail=core.end() < len(word),
                blocked=blocked,
            )
        )
    return tokens


def _similar(candidate: str, key: str, hot: str, hot_key: str, ratio: float) -> bool:
    """Spelled alike, starting with the same sound, and not the hot word with letters added."""
    return (
        ratio >= SIMILARITY_THRESHOLD
        and key[:1] == hot_key[:1]
        and not _is_extension(hot, candidate)
    )


def _loosely_equal(token: _Token, hot: str, hot_key: str) -> bool:
    """One word of a run against one word of a multi-word hot word."""
    if len(token.folded) < _MIN_LOOSE_LETTERS or len(hot) < _MIN_LOOSE_LETTERS:
        return False
    ratio = fuzz.ratio(token.folded, hot)
    key = phonetic_key(token.core)
    if key == hot_key:
        return ratio >= _PHONETIC_MIN_RATIO
    return _similar(token.folded, key, hot, hot_key, ratio)


def _is_extension(hot: str, candidate: str) -> bool:
    """True when `candidate` is `hot` with letters inserted: its letters, in order, plus more."""
    if len(candidate) <= len(hot):
        return False
    letters = iter(candidate)
    return all(ch in letters for ch in hot)


def _choose(windows: Sequence[_Window], best: dict[int, tuple[_Score, int]]) -> list[int]:
    """Non-overlapping windows, best score first; returned in text order.

    A run of several words competes only if it beats every shorter run inside it.
    """
    contenders = [
        index
        for index, (score, _) in best.items()
        if all(
            score > other_score
            for other, (other_score, _) in best.items()
            if other != index and _inside(windows[other], windows[index])
        )
    ]
    contenders.sort(key=lambda index: (best[index][0], -windows[index].first), reverse=True)
    taken: set[int] = set()
    chosen: list[int] = []
    for index in contenders:
        span = range(windows[index].first, windows[index].last + 1)
        if taken.isdisjoint(span):
            taken.update(span)
            chosen.append(index)
    return sorted(chosen, key=lambda index: windows[index].first)


def _inside(inner: _Window, outer: _Window) -> bool:
    return outer.first <= inner.first and inner.last <= outer.last


__all__ = ["SIMILARITY_THRESHOLD", "HotWordCorrector", "fold"]
