"""Spoken and written numbers found in a token list.

`parse_elements` turns tokens into elements: every number becomes one `Num` (a spoken digit,
a spoken cardinal such as `cento e vinte e três`, or digits already written), every other
token stays a `Token`. Entity matching and ITN both work on these elements, so a number is
recognised once, the same way, whichever stages run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from mediaserver.domain.lexicon import (
    CONNECTOR,
    HUNDREDS,
    MEIA,
    SCALES,
    TEENS,
    TENS,
    UNITS,
    Token,
)

# `scaled`: digits the recognizer wrote with a spoken scale word (`2 mil`, `1,5 milhão`).
NumKind = Literal["digit", "cardinal", "written", "scaled"]


@dataclass(frozen=True, slots=True)
class Num:
    kind: NumKind
    first: int  # index of its first token
    stop: int  # index after its last token
    start: int  # character offsets in the input text
    end: int
    digits: str  # the digits it stands for (`cento e três` -> "103", `1.500` -> "1500")
    value: int


Element = Num | Token


def _below_thousand(words: Sequence[str], i: int) -> tuple[int, int] | None:
    """Value and end index of a number under 1000 starting at words[i]."""
    if i >= len(words):
        return None
    w = words[i]
    if w in HUNDREDS:
        value = HUNDREDS[w]
        if w != "cem" and _word(words, i + 1) == CONNECTOR:
            rest = _below_hundred(words, i + 2)
            if rest is not None and rest[0] > 0:
                return value + rest[0], rest[1]
        if w == "cento":  # never a number on its own: `por cento`
            return None
        return value, i + 1
    return _below_hundred(words, i)


def _below_hundred(words: Sequence[str], i: int) -> tuple[int, int] | None:
    w = _word(words, i)
    if w in TENS:
        value = TENS[w]
        unit = _word(words, i + 2)
        if _word(words, i + 1) == CONNECTOR and UNITS.get(unit, 0) > 0:
            return value + UNITS[unit], i + 3
        return value, i + 1
    if w in TEENS:
        return TEENS[w], i + 1
    if w in UNITS:
        return UNITS[w], i + 1
    return None


def _word(words: Sequence[str], i: int) -> str:
    return words[i] if i < len(words) else ""


def written_value(text: str) -> Decimal | None:
    """The value of digits as a pt-BR speaker writes them: `.` groups thousands (`1.500`),
    `,` starts the decimals (`1,5`); `2.5`, whose group is not three digits, is a decimal."""
    whole, _, frac = text.partition(",")
    if "," in frac:
        return None
    groups = whole.split(".")
    if len(groups) == 2 and not frac and len(groups[1]) != 3:
        whole, frac = groups
    elif len(groups) > 1 and any(len(g) != 3 for g in groups[1:]):
        return None
    return Decimal(f"{whole.replace('.', '')}.{frac or 0}")


def _scaled(tokens: Sequence[Token], i: int) -> tuple[int, int] | None:
    """`2 mil`, `1,5 milhão`, `2 milhões e 300 mil`: written digits followed by a scale word,
    and the smaller parts after it, written or spoken. (value, index after) or None."""
    total, j, last_scale = 0, i, 10**12
    while (head := _scale_part(tokens, j, last_scale)) is not None:
        value, last_scale, j = head
        total += value
        k = j + 1 if _norm(tokens, j) == CONNECTOR else j
        if _scale_part(tokens, k, last_scale) is not None:
            j = k
            continue
        rest = _below_scale(tokens, k, last_scale)
        if rest is not None:
            return total + rest[0], rest[1]
        break
    return (total, j) if j > i else None


def _scale_part(tokens: Sequence[Token], j: int, below: int) -> tuple[int, int, int] | None:
    """`<digits> <scale word>` at tokens[j] with a scale under `below`: (value, scale, after)."""
    if j + 1 >= len(tokens) or tokens[j].kind != "num":
        return None
    scale = SCALES.get(tokens[j + 1].norm, 0) if tokens[j + 1].kind == "word" else 0
    amount = written_value(tokens[j].text)
    if not scale or scale >= below or amount is None or (amount * scale) % 1:
        return None
    return int(amount * scale), scale, j + 2


def _below_scale(tokens: Sequence[Token], k: int, scale: int) -> tuple[int, int] | None:
    """The part under `scale` that ends a scaled number (`e 500`, `trezentos`), or None."""
    if k < len(tokens) and tokens[k].kind == "num":
        rest = written_value(tokens[k].text)
        if rest is None or rest % 1 or rest >= scale:
            return None
        return int(rest), k + 1
    words: list[str] = []
    while k + len(words) < len(tokens) and tokens[k + len(words)].kind == "word":
        words.append(tokens[k + len(words)].norm)
    parsed = parse_cardinal(words, 0)
    if parsed is None or parsed[0] >= scale:
        return None
    return parsed[0], k + parsed[1]


def after_letters(tokens: Sequence[Token], i: int) -> bool:
    """Whether tokens[i] is written right after letters (`G2`, `C6`): part of a code, so
    neither an amount nor a day. (A recogniser writes `A G2 mil reais` for `Paguei 2 mil`.)"""
    return i > 0 and tokens[i - 1].kind == "word" and tokens[i - 1].end == tokens[i].start


def _norm(tokens: Sequence[Token], i: int) -> str:
    return tokens[i].norm if i < len(tokens) else ""


def parse_cardinal(words: Sequence[str], i: int) -> tuple[int, int] | None:
    """The longest cardinal starting at words[i]: (value, index after it), or None.

    `words` are lower-cased words with nothing but spaces between them. Scale words must
    decrease (`dois milhões trezentos mil e dez`); `e` joins parts only when a number follows it.
    """
    total, j, parts, last_scale = 0, i, 0, 10**12
    while True:
        k = j + 1 if parts and _word(words, j) == CONNECTOR else j
        small = _below_thousand(words, k)
        after = small[1] if small else k
        scale = SCALES.get(_word(words, after), 0)
        if scale and scale < last_scale and (small or scale == 1000):
            multiplier = small[0] if small else 1
            if multiplier == 0:
                break
            total, j, parts, last_scale = total + multiplier * scale, after + 1, parts + 1, scale
            continue
        if small and not (parts and small[0] == 0):
            total, j, parts = total + small[0], after, parts + 1
        break
    return (total, j) if parts else None


def parse_elements(tokens: Sequence[Token]) -> list[Element]:
    """Group the tokens into numbers and other tokens (see the module docstring)."""
    out: list[Element] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "num":
            code = after_letters(tokens, i)
            scaled = None if code else _scaled(tokens, i)
            if scaled is not None:
                value, stop = scaled
                out.append(_num("scaled", tokens, i, stop, str(value), value))
                i = stop
                continue
            digits = "".join(c for c in tok.text if c.isdigit())
            out.append(Num("written", i, i + 1, tok.start, tok.end, digits, int(digits)))
            i += 1
            if code and i < len(tokens) and tokens[i].norm in SCALES:
                out.append(tokens[i])  # `G2 mil`: the scale word goes with a code, not alone
                i += 1
            continue
        if tok.kind != "word" or _glued_to_digits(tokens, i):
            out.append(tok)
            i += 1
            continue
        stop = _word_run_end(tokens, i)
        words = [t.norm for t in tokens[i:stop]]
        i = _parse_words(tokens, words, i, out)
    return out


def _word_run_end(tokens: Sequence[Token], i: int) -> int:
    j = i
    while j < len(tokens) and tokens[j].kind == "word" and not _glued_to_digits(tokens, j):
        j += 1
    return j


def _touches_digits(tokens: Sequence[Token], i: int) -> bool:
    word = tokens[i]
    return any(
        0 <= j < len(tokens)
        and tokens[j].kind == "num"
        and (tokens[j].end == word.start or tokens[j].start == word.end)
        for j in (i - 1, i + 1)
    )


def _glued_to_digits(tokens: Sequence[Token], i: int) -> bool:
    """Letters of a code, not number words: touching digits (`01DE`, `00UM00`), or capitals
    inside a run of capitals, digits and marks that holds digits (`UM 000`, `12.DEZ.345`,
    `00 AAA UMA AAAA 10`)."""
    if _touches_digits(tokens, i):
        return True
    if not _capitals(tokens[i]):
        return False
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(tokens) and (tokens[j].kind == "punct" or _capitals(tokens[j])):
            j += step
        if 0 <= j < len(tokens) and (tokens[j].kind == "num" or _touches_digits(tokens, j)):
            return True
    return False


def _capitals(tok: Token) -> bool:
    return tok.kind == "word" and len(tok.text) > 1 and tok.text.isupper()


def _parse_words(tokens: Sequence[Token], words: list[str], base: int, out: list[Element]) -> int:
    """Parse one run of consecutive words starting at tokens[base]; returns the index after it."""
    k = 0
    while k < len(words):
        w = words[k]
        parsed = parse_cardinal(words, k)
        if parsed is not None and parsed[1] - k == 1 and w in UNITS:
            out.append(_num("digit", tokens, base + k, base + k + 1, str(UNITS[w]), UNITS[w]))
            k += 1
        elif parsed is not None:
            value, stop = parsed
            out.append(_num("cardinal", tokens, base + k, base + stop, str(value), value))
            k = stop
        elif w == MEIA and _next_to_digit_word(words, k):
            out.append(_num("digit", tokens, base + k, base + k + 1, "6", 6))
            k += 1
        else:
            out.append(tokens[base + k])
            k += 1
    return base + len(words)


def _next_to_digit_word(words: Sequence[str], k: int) -> bool:
    neighbours = (words[k - 1] if k else "", _word(words, k + 1))
    return any(n in UNITS or n == MEIA for n in neighbours)


def _num(kind: NumKind, tokens: Sequence[Token], first: int, stop: int, digits: str, v: int) -> Num:
    return Num(kind, first, stop, tokens[first].start, tokens[stop - 1].end, digits, v)


def group_thousands(value: int) -> str:
    """`25000` -> `25.000`; numbers up to 9999 keep no separator (years read naturally)."""
    if value < 10000:
        return str(value)
    return f"{value:,}".replace(",", ".")
