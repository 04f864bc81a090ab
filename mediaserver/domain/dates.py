"""Dates said in calls (§5): `dia quinze de março` -> `dia 15 de março`, `primeiro de abril`
-> `1º de abril`, `vinte e cinco do doze de dois mil e vinte e cinco` -> `25/12/2025`,
`vencimento dia dez` -> `vencimento dia 10`.

A day and a month make a `date` entity (value ISO 8601: `2025-12-25`, or `--12-25` without a
year). Only real calendar dates count: `trinta e um de fevereiro` is left to ITN. A day alone
after `dia` becomes digits even when it is `um` or `dois`, which ITN keeps as words elsewhere;
it is not an entity. An ordinal outside a date (`primeira parcela`) is left as said.
"""

from __future__ import annotations

import datetime

from mediaserver.domain.document import Document, Edit
from mediaserver.domain.numbers import Num, after_letters

MONTHS = {
    "janeiro": 1, "fevereiro": 2, "março": 3, "marco": 3, "abril": 4, "maio": 5, "junho": 6,
    "julho": 7, "agosto": 8, "setembro": 9, "outubro": 10, "novembro": 11, "dezembro": 12,
}  # fmt: skip
FIRST = frozenset({"primeiro"})
# Words that make `<day> do <month>` a date even without a year (`vence dia cinco do três`).
KEYWORDS = frozenset(
    {"dia", "data", "vencimento", "vence", "venceu", "nascimento", "nasci", "validade"}
)
KEYWORD_WINDOW = 4
_LEAP_YEAR = 2000  # checks 29 de fevereiro when no year is said


def find_dates(doc: Document) -> None:
    e = 0
    while e < len(doc.elements):
        # Most elements are plain words: rule them out before anything costlier.
        day = _day(doc, e) if isinstance(doc.elements[e], Num) or doc.word(e) in FIRST else None
        if day is None:
            e += 1
            continue
        found = _named_month(doc, e, day) or _numeric_month(doc, e, day) or _day_alone(doc, e, day)
        if found is None:
            e += 1
            continue
        after, edit = found
        first, stop = doc.spans[e][0], doc.spans[after - 1][1]
        if doc.is_free(first, stop):
            doc.claim(first, stop, edit)
        e = after


def _day(doc: Document, e: int) -> int | None:
    """The day at element e: a number from 1 to 31 said or written, or `primeiro`."""
    if doc.word(e) in FIRST:
        return 1
    el = doc.elements[e] if e < len(doc.elements) else None
    if not isinstance(el, Num) or el.kind == "scaled" or not doc.element_free(e):
        return None
    if el.kind == "written" and after_letters(doc.tokens, el.first):
        return None
    if el.kind == "digit" and (_is_digit(doc, e + 1) or _is_digit(doc, e - 1)):
        return None  # a run of digits said one by one (`um dois três`) is not a day
    return el.value if 1 <= el.value <= 31 else None


def _is_digit(doc: Document, e: int) -> bool:
    el = doc.elements[e] if 0 <= e < len(doc.elements) else None
    return isinstance(el, Num) and el.kind == "digit"


def _number(doc: Document, e: int, low: int, high: int) -> int | None:
    el = doc.elements[e] if e < len(doc.elements) else None
    if not isinstance(el, Num) or el.kind == "scaled" or not doc.element_free(e):
        return None
    return el.value if low <= el.value <= high else None


def _year(doc: Document, e: int) -> int | None:
    """`de dois mil e vinte e cinco` / `de 2025` at element e (the `de`)."""
    if doc.word(e) != "de":
        return None
    return _number(doc, e + 1, 1900, 2099)


def _real(year: int | None, month: int, day: int) -> bool:
    try:
        datetime.date(year or _LEAP_YEAR, month, day)
    except ValueError:
        return False
    return True


def _iso(year: int | None, month: int, day: int) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"


def _named_month(doc: Document, e: int, day: int) -> tuple[int, Edit] | None:
    """`quinze de março [de 2025]`, `primeiro de abril`: the day (and year) become digits."""
    month = MONTHS.get(doc.word(e + 2), 0)
    if doc.word(e + 1) != "de" or not month:
        return None
    year = _year(doc, e + 3)
    if not _real(year, month, day):
        return None
    after = e + 5 if year else e + 3
    start, end = doc.elements[e].start, doc.elements[after - 1].end
    day_text = "1º" if doc.word(e) in FIRST else str(day)
    middle = doc.text[doc.elements[e + 1].start : doc.elements[e + 2].end]  # `de março` as said
    text = f"{day_text} {middle}" + (f" de {year}" if year else "")
    return after, Edit(start, end, text, "date", _iso(year, month, day), rule="date")


def _numeric_month(doc: Document, e: int, day: int) -> tuple[int, Edit] | None:
    """`vinte e cinco do doze de dois mil e vinte e cinco` -> `25/12/2025`; without a year
    only after a date word (`vence dia cinco do três` -> `vence dia 05/03`)."""
    if doc.word(e + 1) != "do":
        return None
    month = _number(doc, e + 2, 1, 12)
    if month is None:
        return None
    year = _year(doc, e + 3)
    if not _real(year, month, day) or (year is None and not _keyword_before(doc, e)):
        return None
    after = e + 5 if year else e + 3
    start, end = doc.elements[e].start, doc.elements[after - 1].end
    text = f"{day:02d}/{month:02d}" + (f"/{year}" if year else "")
    return after, Edit(start, end, text, "date", _iso(year, month, day), rule="date.numeric")


def _day_alone(doc: Document, e: int, day: int) -> tuple[int, Edit] | None:
    """`dia dez` -> `dia 10`, `dia um` -> `dia 1`, `dia primeiro` -> `dia 1º` (no entity)."""
    if doc.word(e - 1) != "dia":
        return None
    el = doc.elements[e]
    if isinstance(el, Num) and el.kind == "written":
        return None
    text = "1º" if doc.word(e) in FIRST else str(day)
    return e + 1, Edit(el.start, el.end, text, rule="date.day")


def _keyword_before(doc: Document, e: int) -> bool:
    first = doc.spans[e][0]
    words = [t.norm for t in doc.tokens[max(0, first - 2 * KEYWORD_WINDOW) : first]]
    words = [w for w in words if w.isalpha()][-KEYWORD_WINDOW:]
    return not KEYWORDS.isdisjoint(words)
