"""Identifiers written as digit strings: CPF, CNPJ, phone, card, CEP (and PIX keys among them).

A chunk is a run of numbers (and, for alphanumeric CNPJs, letter groups) joined only by
separators; inside it, consecutive numbers whose characters add up to an entity's length form
a candidate. Numbers are never split: the speaker's grouping is respected.
"""

from __future__ import annotations

from dataclasses import dataclass

from mediaserver.domain import checks
from mediaserver.domain.document import Document, Edit
from mediaserver.domain.lexicon import SEPARATOR_PUNCT, SEPARATOR_WORDS, Token
from mediaserver.domain.numbers import Num

KEYWORD_WINDOW = 4
PHONE_KEYWORDS = frozenset({"telefone", "celular", "fone", "whatsapp", "zap", "contato"})
ALL_KEYWORDS = PHONE_KEYWORDS | {"cpf", "cnpj", "cep", "pix"}


@dataclass(frozen=True, slots=True)
class Match:
    kind: str
    text: str
    value: str
    valid: bool
    keyword: bool  # matched thanks to a keyword (wins over a keyword-less match)
    rule: str = ""  # for `--explain` when it is not just the entity type


def _format_phone(d: str, international: bool) -> str:
    local = f"({d[:2]}) {d[2:-4]}-{d[-4:]}"
    return f"+55 {local}" if international else local


def _match(chars: str, keywords: frozenset[str], international: bool) -> Match | None:
    """The best entity for these characters in this context, if any."""
    found: list[Match] = []
    if international and chars.startswith("55") and checks.phone_shape(chars[2:]):
        found.append(Match("phone", _format_phone(chars[2:], True), chars, True, True))
    phone_context = keywords & (PHONE_KEYWORDS | {"pix"})
    if checks.phone_shape(chars) and phone_context:
        found.append(Match("phone", _format_phone(chars, False), chars, True, True))
    if chars[:1] == "0" and checks.phone_shape(chars[1:]) and phone_context:
        # §5: the trunk zero dialled before the DDD (`0 11 9...`) is not part of the number.
        text = _format_phone(chars[1:], False)
        found.append(Match("phone", text, chars[1:], True, True, "phone.trunk_zero"))
    if len(chars) == 11 and chars.isdigit():
        valid = checks.cpf_valid(chars)
        if valid or "cpf" in keywords:
            text = f"{chars[:3]}.{chars[3:6]}.{chars[6:9]}-{chars[9:]}"
            found.append(Match("cpf", text, chars, valid, "cpf" in keywords))
    if checks.is_cnpj_shape(chars):
        valid = checks.cnpj_valid(chars)
        if valid or "cnpj" in keywords:
            text = f"{chars[:2]}.{chars[2:5]}.{chars[5:8]}/{chars[8:12]}-{chars[12:]}"
            found.append(Match("cnpj", text, chars, valid, "cnpj" in keywords))
    if len(chars) == 16 and checks.luhn_valid(chars):
        text = " ".join(chars[i : i + 4] for i in range(0, 16, 4))
        found.append(Match("card", text, chars, True, False))
    if len(chars) == 8 and chars.isdigit() and "cep" in keywords:
        found.append(Match("cep", f"{chars[:5]}-{chars[5:]}", chars, True, True))
    # A keyword decides (`celular` beats a CPF that happens to be valid); then validity.
    found.sort(key=_rank, reverse=True)
    return found[0] if found else None


def _chars(doc: Document, e: int) -> str | None:
    """What element e contributes to an entity: digits, or letters of an alphanumeric CNPJ."""
    el = doc.elements[e]
    if isinstance(el, Num):
        return el.digits
    if el.kind != "word" or not el.text.isascii() or not el.text.isalpha() or len(el.text) > 12:
        return None
    if el.norm in ALL_KEYWORDS and not _inside_code(doc.text, el.start, el.end):
        return None  # `CPF 123...` is the keyword; `00.000.CPF/0000-96` is part of a code
    glued = any(
        isinstance(n, Num) and (n.end == el.start or n.start == el.end)
        for n in doc.elements[max(e - 1, 0) : e + 2]
    )
    return el.text.upper() if el.text.isupper() or glued else None


def _inside_code(text: str, start: int, end: int) -> bool:
    """No space on either side: the letters are written inside a longer code."""
    before, after = text[start - 1 : start], text[end : end + 1]
    return bool(before.strip()) and bool(after.strip())


def _is_separator(doc: Document, e: int) -> bool:
    el = doc.elements[e]
    return isinstance(el, Token) and (el.norm in SEPARATOR_WORDS or el.text in SEPARATOR_PUNCT)


def _chunk(doc: Document, e: int) -> list[int]:
    """Elements of the chunk starting at element e (numbers/letters, separators skipped)."""
    items = [e]
    k = e + 1
    while k < len(doc.elements):
        m = k
        while m < len(doc.elements) and _is_separator(doc, m):
            m += 1
        if m >= len(doc.elements) or not doc.element_free(m) or _chars(doc, m) is None:
            break
        items.append(m)
        k = m + 1
    return items


def _context(doc: Document, e: int) -> tuple[frozenset[str], bool]:
    """Keywords among the 4 words before element e, and whether `+`/`mais` comes right before."""
    first = doc.spans[e][0]
    words: list[str] = []
    i = first - 1
    while i >= 0 and len(words) < KEYWORD_WINDOW:
        tok = doc.tokens[i]
        if tok.kind != "punct":
            words.append(tok.norm)
        i -= 1
    before = doc.tokens[first - 1] if first else None
    international = before is not None and before.norm in ("+", "mais")
    return frozenset(words) & ALL_KEYWORDS, international


def _rank(m: Match) -> tuple[bool, bool]:
    return m.keyword, m.valid


def _best_at(doc: Document, items: list[int], s: int) -> tuple[Match, int] | None:
    keywords, international = _context(doc, items[s])
    best: tuple[Match, int] | None = None
    chars = ""
    for end in range(s, len(items)):
        part = _chars(doc, items[end])
        assert part is not None
        chars += part
        if len(chars) > 16:
            break
        m = _match(chars, keywords, international)
        # Among equally good matches the longest wins.
        if m is not None and (best is None or (m.keyword, m.valid) >= _rank(best[0])):
            best = (m, end + 1)
    return best


def find_identifiers(doc: Document) -> None:
    e = 0
    while e < len(doc.elements):
        if not doc.element_free(e) or _chars(doc, e) is None:
            e += 1
            continue
        items = _chunk(doc, e)
        if not any(isinstance(doc.elements[i], Num) for i in items):
            e += 1
            continue
        s = 0
        while s < len(items):
            best = _best_at(doc, items, s)
            if best is None:
                s += 1
                continue
            match, stop = best
            first = doc.spans[items[s]][0]
            if match.value.startswith("55") and match.text.startswith("+55"):
                first -= 1  # the `+` or `mais` belongs to the entity
            last = doc.spans[items[stop - 1]][1]
            if first and doc.tokens[first - 1].text == "(" and doc.is_free(first - 1, first):
                first -= 1  # `(11) 3333-4444` as written: the parenthesis is part of it
            edit = Edit(
                doc.tokens[first].start, doc.tokens[last - 1].end,
                match.text, match.kind, match.value, match.valid, match.rule or match.kind,
            )  # fmt: skip
            doc.claim(first, last, edit)
            s = stop
        e = items[-1] + 1
