"""Inverse text normalization of the numbers no entity claimed.

Rules (POSTPROCESSING.md §1): cardinals become digits (`.` thousands from 10000 on), a run of
digits said one by one joins into one string, `meia` is 6 inside such a run, `vírgula` makes a
decimal with a comma, `por cento` sticks `%` to the number, and `um`/`uma`/`dois`/`duas`
standing alone stay words. Digits already written are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from mediaserver.domain.document import Document, Edit
from mediaserver.domain.lexicon import ARTICLES, DECIMAL_WORDS
from mediaserver.domain.numbers import Num, group_thousands

# Given the spoken words of a cardinal and the value our parser found, the value to write.
CardinalValue = Callable[[str, int], int]


def _spoken_value(words: str, value: int) -> int:
    del words
    return value


class _Number:
    """A number expression being built: its text, element range and whether it stays a word."""

    def __init__(
        self, text: str, digits: str, first: int, stop: int, keep: bool, rule: str
    ) -> None:
        self.text, self.digits, self.keep, self.rule = text, digits, keep, rule
        self.first, self.stop = first, stop


def _run_end(doc: Document, e: int) -> int:
    """Index after the run of spoken single digits starting at e (only spaces between them)."""
    k = e
    while k < len(doc.elements):
        el = doc.elements[k]
        if not (isinstance(el, Num) and el.kind == "digit" and doc.element_free(k)):
            break
        k += 1
    return k


def _integer(doc: Document, e: int, cardinal_value: CardinalValue) -> _Number | None:
    el = doc.elements[e]
    if not isinstance(el, Num) or not doc.element_free(e):
        return None
    source = doc.text[el.start : el.end]
    if el.kind == "written":
        return _Number(source, source, e, e + 1, keep=True, rule="")
    if el.kind == "scaled":  # `2 mil` is an amount, not a year: always grouped, `2.000`
        text = f"{el.value:,}".replace(",", ".")
        return _Number(text, text, e, e + 1, keep=False, rule="itn.scale")
    if el.kind == "cardinal":
        text = group_thousands(cardinal_value(source, el.value))
        return _Number(text, text, e, e + 1, keep=False, rule="itn.cardinal")
    stop = _run_end(doc, e)
    digits = "".join(d.digits for d in doc.elements[e:stop] if isinstance(d, Num))
    alone = stop - e == 1 and source.lower() in ARTICLES
    rule = "itn.digits" if stop - e > 1 else "itn.cardinal"
    return _Number(source if alone else digits, digits, e, stop, keep=alone, rule=rule)


def _fraction(doc: Document, e: int) -> tuple[str, int] | None:
    """Digits after `vírgula`, as said (`zero cinco` -> `05`), and the index after them."""
    el = doc.elements[e] if e < len(doc.elements) else None
    if not isinstance(el, Num) or not doc.element_free(e) or el.kind in ("written", "scaled"):
        return None
    if el.kind == "cardinal":
        return el.digits, e + 1
    stop = _run_end(doc, e)
    return "".join(d.digits for d in doc.elements[e:stop] if isinstance(d, Num)), stop


def _expression(doc: Document, e: int, cardinal_value: CardinalValue) -> _Number | None:
    number = _integer(doc, e, cardinal_value)
    if number is None:
        return None
    written = number.keep and number.text == number.digits
    if not written and doc.word(number.stop) in DECIMAL_WORDS:
        frac = _fraction(doc, number.stop + 1)
        if frac is not None:
            text = f"{number.digits},{frac[0]}"
            number = _Number(text, text, e, frac[1], keep=False, rule="itn.decimal")
    if doc.word(number.stop) == "por" and doc.word(number.stop + 1) == "cento":
        percent = f"{number.digits}%"
        number = _Number(percent, "", e, number.stop + 2, keep=False, rule="itn.percent")
    return number


def apply_itn(doc: Document, cardinal_value: CardinalValue = _spoken_value) -> None:
    """Record an edit for every spoken number expression left unclaimed."""
    e = 0
    while e < len(doc.elements):
        number = _expression(doc, e, cardinal_value)
        if number is None:
            e += 1
            continue
        first, stop = doc.spans[number.first][0], doc.spans[number.stop - 1][1]
        if not number.keep:
            start, end = doc.tokens[first].start, doc.tokens[stop - 1].end
            doc.claim(first, stop, Edit(start, end, number.text, rule=number.rule))
        e = number.stop
