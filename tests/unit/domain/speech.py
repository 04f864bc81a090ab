"""A test helper that says digit strings the ways a caller does (one by one, groups, mixed)."""

from __future__ import annotations

from hypothesis import strategies as st

DIGIT_WORDS = ["zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove"]
_TEENS = ["dez", "onze", "doze", "treze", "catorze", "quinze", "dezesseis", "dezessete",
          "dezoito", "dezenove"]  # fmt: skip
_TENS = ["", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta",
         "noventa"]  # fmt: skip
_HUNDREDS = ["", "cento", "duzentos", "trezentos", "quatrocentos", "quinhentos", "seiscentos",
             "setecentos", "oitocentos", "novecentos"]  # fmt: skip
SEPARATORS = [" ", ", ", " ponto ", " traço ", " hífen ", " menos ", " barra ", " - ", " . "]


def cardinal(n: int) -> str:
    """Portuguese words for 0 <= n < 1000, written independently of the code under test."""
    if n < 10:
        return DIGIT_WORDS[n]
    if n < 20:
        return _TEENS[n - 10]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _TENS[tens] + (f" e {DIGIT_WORDS[unit]}" if unit else "")
    if n == 100:
        return "cem"
    hundreds, rest = divmod(n, 100)
    return _HUNDREDS[hundreds] + (f" e {cardinal(rest)}" if rest else "")


@st.composite
def spoken_group(draw: st.DrawFn, group: str) -> str:
    """One group of digits said one by one, as a cardinal (no leading zero), or written."""
    ways = ["digits", "written"]
    if len(group) <= 3 and (group[0] != "0" or len(group) == 1):
        ways.append("cardinal")
    way = draw(st.sampled_from(ways))
    if way == "written":
        return group
    if way == "cardinal":
        return cardinal(int(group))
    words = [DIGIT_WORDS[int(c)] for c in group]
    if len(group) > 1 and draw(st.booleans()):
        words = ["meia" if w == "seis" else w for w in words]
    return " ".join(words)


@st.composite
def spoken_digits(draw: st.DrawFn, digits: str) -> str:
    """The whole string split into groups at random, each said its own way."""
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=len(digits) - 1)))
    groups = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    parts = [draw(spoken_group(g)) for g in groups]
    out = parts[0]
    for part in parts[1:]:
        out += draw(st.sampled_from(SEPARATORS)) + part
    return out


def big_cardinal(n: int) -> str:
    """Words for 0 <= n < 10**6: `mil` alone for 1000, `e` before a last part under 100 or round."""
    thousands, rest = divmod(n, 1000)
    if not thousands:
        return cardinal(rest)
    head = "mil" if thousands == 1 else f"{cardinal(thousands)} mil"
    if not rest:
        return head
    joiner = " e " if rest < 100 or rest % 100 == 0 else " "
    return head + joiner + cardinal(rest)
