"""Amounts of money: `R$ 1.234,56`, always with `R$ `, `.` thousands and two decimals."""

from __future__ import annotations

from mediaserver.domain.document import Document, Edit
from mediaserver.domain.lexicon import ARTICLES, DECIMAL_WORDS, Token
from mediaserver.domain.numbers import Num, after_letters

_REAIS = frozenset({"real", "reais"})
_CENTAVOS = frozenset({"centavo", "centavos"})
# Words after a number that make it something other than the cents of the amount before it.
_NOT_CENTS = _REAIS | {"por", "vezes", "parcelas", "parcela", "meses", "dias", "anos", "mil"}
_BIG_SCALES = frozenset({"milhão", "milhao", "milhões", "milhoes", "bilhão", "bilhao", "bilhões"})


def format_money(cents: int) -> tuple[str, str]:
    """(text, value): 123456 -> ("R$ 1.234,56", "1234.56")."""
    reais, rest = divmod(cents, 100)
    return f"R$ {reais:,}".replace(",", ".") + f",{rest:02d}", f"{reais}.{rest:02d}"


def _written_cents(text: str) -> int | None:
    """pt-BR written amount: `1.234,56` / `1500` / `89,9`; `.` groups thousands."""
    whole, comma, frac = text.rpartition(",") if "," in text else (text, "", "")
    if (comma and not 1 <= len(frac) <= 2) or "," in whole:
        return None
    groups = whole.split(".")
    if len(groups) > 1 and any(len(g) != 3 for g in groups[1:]):
        if len(groups) == 2 and not comma and 1 <= len(groups[1]) <= 2:  # `10.5` read as decimal
            whole, frac = groups[0], groups[1]
        else:
            return None
    reais = int("".join(whole.split(".")))
    return reais * 100 + (int(frac.ljust(2, "0")) if frac else 0)


def _amount(doc: Document, e: int) -> tuple[int, int] | None:
    """(cents, index after) of an amount starting at element e."""
    if e >= len(doc.elements) or not doc.element_free(e):
        return None
    el = doc.elements[e]
    if not isinstance(el, Num):
        return None
    if el.kind == "written":
        if after_letters(doc.tokens, el.first):
            return None
        text = doc.text[el.start : el.end]
        cents = _written_cents(text)
        return None if cents is None else (cents, e + 1)
    cents = el.value * 100
    frac = doc.elements[e + 2] if e + 2 < len(doc.elements) else None
    if doc.word(e + 1) in DECIMAL_WORDS and isinstance(frac, Num) and len(frac.digits) <= 2:
        return cents + int(frac.digits.ljust(2, "0")), e + 3
    return cents, e + 1


def _cents_after(doc: Document, e: int) -> tuple[int, int] | None:
    """The cents after `reais`: `e cinquenta centavos`, or (§5) a number from 1 to 99 right
    after `reais e` with no unit at all: (cents, index after)."""
    connector = doc.word(e)
    if connector not in ("e", "com"):
        return None
    amount = _amount(doc, e + 1)
    if amount is None or amount[0] >= 100 * 100 or amount[0] % 100:
        return None
    cents, after = amount
    if doc.word(after) in _CENTAVOS:
        return cents // 100, after + 1
    if connector != "e" or not cents or not _bare_cents(doc, e + 1, after):
        return None
    return cents // 100, after


def _bare_cents(doc: Document, e: int, after: int) -> bool:
    """Whether the number at e, with no `centavos` after it, can still be the cents: not an
    article standing alone (`reais e uma taxa`, §1) and not a number of something else
    (`e 10 por cento`, `e 5 reais`)."""
    el = doc.elements[e]
    if isinstance(el, Num) and doc.text[el.start : el.end].lower() in ARTICLES:
        return False
    nxt = doc.elements[after] if after < len(doc.elements) else None
    if isinstance(nxt, Token) and nxt.text in ("%", "$"):
        return False
    return doc.word(after) not in _NOT_CENTS


def _spoken_amount(doc: Document, e: int) -> tuple[int, int] | None:
    """`<amount> [de] reais [e <n> centavos]` or `<n> centavos`: (cents, index after)."""
    amount = _amount(doc, e)
    if amount is None:
        return None
    cents, after = amount
    if doc.word(after) in _CENTAVOS and cents < 100 * 100 and cents % 100 == 0:
        return cents // 100, after + 1
    if doc.word(after) == "de" and doc.tokens[doc.spans[after][0] - 1].norm in _BIG_SCALES:
        after += 1
    if doc.word(after) not in _REAIS:
        return None
    extra = _cents_after(doc, after + 1)
    if extra is None:
        return cents, after + 1
    return cents + extra[0], extra[1]


def _prefixed_amount(doc: Document, e: int) -> tuple[int, int] | None:
    """`R$ <amount> [reais] [e <n> centavos]`: (cents, index after); e is the `R`."""
    r, dollar = doc.elements[e], doc.elements[e + 1] if e + 1 < len(doc.elements) else None
    if not (isinstance(r, Token) and r.text in ("R", "r") and isinstance(dollar, Token)):
        return None
    if dollar.text != "$" or r.end != dollar.start:
        return None
    spoken = _spoken_amount(doc, e + 2)
    return spoken if spoken is not None else _amount(doc, e + 2)


def find_money(doc: Document) -> None:
    e = 0
    while e < len(doc.elements):
        found = _prefixed_amount(doc, e) or _spoken_amount(doc, e)
        if found is None or not doc.is_free(doc.spans[e][0], doc.spans[found[1] - 1][1]):
            e += 1
            continue
        cents, after = found
        first, stop = doc.spans[e][0], doc.spans[after - 1][1]
        text, value = format_money(cents)
        start, end = doc.tokens[first].start, doc.tokens[stop - 1].end
        edit = Edit(start, end, text, "money", value, rule=_rule(doc, after))
        doc.claim(first, stop, edit)
        e = after


def _rule(doc: Document, after: int) -> str:
    """`money.bare_cents` when the amount ends `reais e <n>` (§5), else `money`."""
    bare = isinstance(doc.elements[after - 1], Num) and doc.word(after - 2) == "e"
    return "money.bare_cents" if bare and doc.word(after - 3) in _REAIS else "money"
