"""pt-BR text made speakable before synthesis: the reverse of ITN.

A TTS voice reads `R$ 1.234,56` as symbols and digits; a caller expects "mil duzentos e trinta
e quatro reais e cinquenta e seis centavos". `speakable(text)` rewrites, left to right and each
span once: money, CPF/CNPJ and phone numbers (digit by digit, in the groups they are written
in), dates, times, percentages, ordinals, numbers (to words; long or zero-led digit runs such as
protocols and accounts digit by digit), acronyms (spelled unless said as a word, like PIX) and a
few abbreviations. Everything else passes through unchanged.

Number words follow Brazilian usage: "dezesseis", "quatorze", "cem" / "cento e um", and "e"
before the last group only when it is below a hundred or a round hundred ("mil e vinte",
"mil duzentos e trinta e quatro", "um milhão e duzentos mil").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

_UNITS: Final = (
    "zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez",
    "onze", "doze", "treze", "quatorze", "quinze", "dezesseis", "dezessete", "dezoito", "dezenove",
)  # fmt: skip
_TENS: Final = (
    "", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta", "noventa",
)  # fmt: skip
_HUNDREDS: Final = (
    "", "cento", "duzentos", "trezentos", "quatrocentos", "quinhentos", "seiscentos",
    "setecentos", "oitocentos", "novecentos",
)  # fmt: skip
# (value, singular, plural); "mil" never takes "um" before it.
_SCALES: Final = (
    (10**12, "trilhão", "trilhões"),
    (10**9, "bilhão", "bilhões"),
    (10**6, "milhão", "milhões"),
    (10**3, "mil", "mil"),
)
MAX_CARDINAL: Final = 10**15 - 1
_ORDINAL_UNITS: Final = (
    "", "primeiro", "segundo", "terceiro", "quarto", "quinto", "sexto", "sétimo", "oitavo", "nono",
)  # fmt: skip
_ORDINAL_TENS: Final = (
    "", "décimo", "vigésimo", "trigésimo", "quadragésimo", "quinquagésimo", "sexagésimo",
    "septuagésimo", "octogésimo", "nonagésimo",
)  # fmt: skip
MONTHS: Final = (
    "", "janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
    "outubro", "novembro", "dezembro",
)  # fmt: skip
_LETTERS: Final = {
    "A": "á", "B": "bê", "C": "cê", "D": "dê", "E": "é", "F": "efe", "G": "gê", "H": "agá",
    "I": "i", "J": "jota", "K": "cá", "L": "ele", "M": "eme", "N": "ene", "O": "ó", "P": "pê",
    "Q": "quê", "R": "erre", "S": "esse", "T": "tê", "U": "u", "V": "vê", "W": "dáblio",
    "X": "xis", "Y": "ípsilon", "Z": "zê",
}  # fmt: skip
# Acronyms said as words; any other all-capital word without a vowel is spelled letter by letter.
ACRONYM_WORDS: Final = {
    "PIX": "pix", "CEP": "cep", "TED": "ted", "DOC": "doc", "SAC": "sac", "PIN": "pin",
    "IPVA": "ipva", "IPTU": "iptu", "FIES": "fies", "SELIC": "selic",
}  # fmt: skip
# Acronyms with vowels that are nevertheless spelled.
ACRONYMS_SPELLED: Final = frozenset(
    {"CPF", "CNPJ", "RG", "INSS", "FGTS", "IOF", "CDB", "CVV", "SMS", "CNH", "PIS", "URA", "IA"}
)
ABBREVIATIONS: Final = {
    "Sr.": "senhor", "Sra.": "senhora", "Srta.": "senhorita", "Dr.": "doutor",
    "Dra.": "doutora", "Av.": "avenida", "etc.": "etcétera", "nº": "número", "n°": "número",
}  # fmt: skip
# Counted nouns that make "1" and "2" (and the hundreds) feminine: "duas parcelas".
FEMININE_NOUNS: Final = frozenset(
    {
        "parcela", "parcelas", "pessoa", "pessoas", "hora", "horas", "vez", "vezes", "semana",
        "semanas", "prestação", "prestações", "fatura", "faturas", "conta", "contas", "opção",
        "opções", "transferência", "transferências", "mensalidade", "mensalidades", "via", "vias",
        "tentativa", "tentativas", "chave", "chaves",
    }
)  # fmt: skip
_MONEY_SCALES: Final = {
    "mil": 10**3, "milhão": 10**6, "milhões": 10**6, "bilhão": 10**9, "bilhões": 10**9,
}  # fmt: skip


# --- numbers to words ------------------------------------------------------------------------


def _unit(n: int, feminine: bool) -> str:
    if feminine and n in (1, 2):
        return "uma" if n == 1 else "duas"
    return _UNITS[n]


def _below_thousand(n: int, feminine: bool) -> str:
    if n == 100:
        return "cem"
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        word = _HUNDREDS[hundreds]
        parts.append(word[:-2] + "as" if feminine and hundreds > 1 else word)
    if 0 < rest < 20:
        parts.append(_unit(rest, feminine))
    elif rest:
        tens, unit = divmod(rest, 10)
        parts.append(_TENS[tens] + (f" e {_unit(unit, feminine)}" if unit else ""))
    return " e ".join(parts)


def cardinal(n: int, feminine: bool = False) -> str:
    """0 <= n <= MAX_CARDINAL in words: 1234 -> "mil duzentos e trinta e quatro"."""
    if not 0 <= n <= MAX_CARDINAL:
        raise ValueError(f"cardinal() takes 0..{MAX_CARDINAL}, got {n}")
    if n == 0:
        return "zero"
    groups: list[tuple[int, str]] = []  # (the group's own value, its words)
    for scale, singular, plural in _SCALES:
        count, n = divmod(n, scale)
        if count == 0:
            continue
        if scale == 1000:
            words = "mil" if count == 1 else f"{_below_thousand(count, feminine)} mil"
        else:  # milhão and up are masculine nouns: "duas mil", but "dois milhões"
            words = f"{_below_thousand(count, False)} {singular if count == 1 else plural}"
        groups.append((count, words))
    if n:
        groups.append((n, _below_thousand(n, feminine)))
    text = groups[0][1]
    for i, (value, words) in enumerate(groups[1:], 1):
        last = i == len(groups) - 1
        text += " e " if last and (value < 100 or value % 100 == 0) else " "
        text += words
    return text


def ordinal(n: int, feminine: bool = False) -> str:
    """1..99 as an ordinal word: 21 -> "vigésimo primeiro" ("vigésima primeira")."""
    if not 1 <= n <= 99:
        raise ValueError(f"ordinal() takes 1..99, got {n}")
    tens, unit = divmod(n, 10)
    words = " ".join(w for w in (_ORDINAL_TENS[tens], _ORDINAL_UNITS[unit]) if w)
    return " ".join(w[:-1] + "a" for w in words.split()) if feminine else words


def digits(text: str) -> str:
    """Each digit as a word: "0800" -> "zero oito zero zero"."""
    return " ".join(_UNITS[int(c)] for c in text if c.isdigit())


def decimal_words(whole: str, fraction: str) -> str:
    """`2,5` -> "dois vírgula cinco"; a zero-led fraction is read digit by digit."""
    text = cardinal(int(whole.replace(".", "")))
    if not fraction:
        return text
    if fraction.startswith("0") or len(fraction) > 3:
        return f"{text} vírgula {digits(fraction)}"
    return f"{text} vírgula {cardinal(int(fraction))}"


def money(value: Decimal) -> str:
    """A non-negative amount of reais in words, cents rounded."""
    cents = int((value * 100).to_integral_value(ROUND_HALF_UP))
    reais, rest = divmod(cents, 100)
    parts = []
    if reais:
        # "um milhão de reais": a round million or more takes "de".
        of = " de" if reais >= 10**6 and reais % 10**6 == 0 else ""
        parts.append(f"{cardinal(reais)}{of} {'real' if reais == 1 else 'reais'}")
    if rest:
        parts.append(f"{cardinal(rest)} {'centavo' if rest == 1 else 'centavos'}")
    return " e ".join(parts) or "zero reais"


# --- written forms ---------------------------------------------------------------------------

_B: Final = r"(?<![\w,.])"  # not glued to a word or to another number
_E: Final = r"(?![\w]|[.,]\d)"
_NUMBER: Final = r"\d{1,3}(?:\.\d{3})+|\d+"
_PATTERNS: Final = (
    (
        "money",
        rf"R\$\s?(?P<m_int>{_NUMBER})(?:,(?P<m_frac>\d+))?(?:\s(?P<m_scale>mil|milh(?:ão|ões)|bilh(?:ão|ões))\b)?{_E}",
    ),
    ("cpf", rf"{_B}\d{{3}}\.\d{{3}}\.\d{{3}}-\d{{2}}{_E}"),
    ("cnpj", rf"{_B}\d{{2}}\.\d{{3}}\.\d{{3}}/\d{{4}}-\d{{2}}{_E}"),
    (
        "phone",
        rf"(?:\+55\s?)?\(\d{{2}}\)\s?\d{{4,5}}-?\d{{4}}{_E}|{_B}\d{{2}}\s\d{{4,5}}-\d{{4}}{_E}",
    ),
    ("toll_free", rf"{_B}0[358]00[\s-]?\d{{3}}[\s-]?\d{{4}}{_E}"),
    ("iso_date", rf"{_B}(?P<i_y>\d{{4}})-(?P<i_m>\d{{2}})-(?P<i_d>\d{{2}}){_E}"),
    ("date", rf"{_B}(?P<d_d>\d{{1,2}})/(?P<d_m>\d{{1,2}})(?:/(?P<d_y>\d{{4}}|\d{{2}}))?{_E}"),
    ("time", rf"{_B}(?P<t_h>\d{{1,2}})(?::(?P<t_m>\d{{2}})|h(?P<t_m2>\d{{2}})?){_E}"),
    ("percent", rf"{_B}(?P<p_int>{_NUMBER})(?:,(?P<p_frac>\d+))?\s?%"),
    ("ordinal", rf"{_B}(?P<o_n>[1-9]\d?)(?P<o_g>[ºª°]|\.[ºª])"),
    ("dashed", rf"{_B}\d+(?:-\d+)+{_E}"),
    ("number", rf"{_B}(?P<n_int>{_NUMBER})(?:,(?P<n_frac>\d+))?{_E}"),
    ("abbreviation", r"(?<!\w)(?:" + "|".join(re.escape(a) for a in ABBREVIATIONS) + r")(?!\w)"),
    ("acronym", r"\b[A-Z]{2,6}\b"),
    ("glued", r"\d+"),  # digits inside a word or a malformed number: "4G", "10kg", "1.2.3"
)
_SCANNER: Final = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _PATTERNS))


def speakable(text: str) -> str:
    """`text` with every written form above replaced by the words a voice should say."""
    out = _SCANNER.sub(_say, text)
    return re.sub(r"[ \t]{2,}", " ", out)


def _say(match: re.Match[str]) -> str:
    kind = match.lastgroup
    assert kind is not None  # every alternative is a named group
    return _HANDLERS[kind](match)


def _money(m: re.Match[str]) -> str:
    whole = m["m_int"].replace(".", "")
    value = Decimal(f"{whole}.{m['m_frac'] or '0'}")
    if m["m_scale"]:
        value *= _MONEY_SCALES[m["m_scale"]]
    if value > MAX_CARDINAL:
        return digits(m[0])
    return money(value)


def _grouped(m: re.Match[str]) -> str:
    """Identifiers read digit by digit in their written groups; "-" is read "traço"."""
    parts = []
    for i, chunk in enumerate(re.split(r"(?<=\d)(?=-)|[^\d-]+", m[0])):
        if chunk.strip("-"):
            said = digits(chunk)
            parts.append(f"traço {said}" if chunk.startswith("-") and i else said)
    return ", ".join(parts)


def _phone(m: re.Match[str]) -> str:
    """Phone numbers in their written groups; the "-" inside a number is not said."""
    groups = re.findall(r"\d+", m[0].removeprefix("+55"))
    return ", ".join(digits(g) for g in groups)


def _date_words(day: int, month: int, year: str | None) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    text = f"{'primeiro' if day == 1 else cardinal(day)} de {MONTHS[month]}"
    if year:
        text += f" de {cardinal(int(year) if len(year) == 4 else 2000 + int(year))}"
    return text


def _date(m: re.Match[str]) -> str:
    said = _date_words(int(m["d_d"]), int(m["d_m"]), m["d_y"])
    return said if said is not None else _grouped(m)


def _iso_date(m: re.Match[str]) -> str:
    said = _date_words(int(m["i_d"]), int(m["i_m"]), m["i_y"])
    return said if said is not None else _grouped(m)


def _time(m: re.Match[str]) -> str:
    hours, minutes = int(m["t_h"]), int(m["t_m"] or m["t_m2"] or 0)
    if hours > 24 or minutes > 59:
        return _grouped(m) if m["t_m"] is None else f"{cardinal(hours)} {cardinal(minutes)}"
    text = f"{cardinal(hours, feminine=True)} {'hora' if hours == 1 else 'horas'}"
    if minutes:
        text += f" e {cardinal(minutes)} {'minuto' if minutes == 1 else 'minutos'}"
    return text


def _percent(m: re.Match[str]) -> str:
    return f"{decimal_words(m['p_int'], m['p_frac'] or '')} por cento"


def _ordinal(m: re.Match[str]) -> str:
    return ordinal(int(m["o_n"]), feminine=m["o_g"].endswith("ª"))


def _number(m: re.Match[str]) -> str:
    whole, fraction = m["n_int"], m["n_frac"] or ""
    if "." not in whole and (len(whole) > 4 or (whole.startswith("0") and len(whole) > 1)):
        # Protocols, accounts, codes: nobody says 20261120 as a cardinal.
        return digits(whole) + (f" vírgula {digits(fraction)}" if fraction else "")
    if fraction:
        return decimal_words(whole, fraction)
    return cardinal(int(whole.replace(".", "")), feminine=_counts_feminine(m))


def _counts_feminine(m: re.Match[str]) -> bool:
    following = re.match(r"\s+(\w+)", m.string[m.end() :])
    return following is not None and following[1].lower() in FEMININE_NOUNS


def _glued(m: re.Match[str]) -> str:
    run = m[0]
    said = digits(run) if len(run) > 4 or (run[0] == "0" and len(run) > 1) else cardinal(int(run))
    before = " " if m.start() > 0 and m.string[m.start() - 1].isalnum() else ""
    after = " " if m.end() < len(m.string) and m.string[m.end()].isalnum() else ""
    return f"{before}{said}{after}"


def _acronym(m: re.Match[str]) -> str:
    word = m[0]
    if word in ACRONYM_WORDS:
        return ACRONYM_WORDS[word]
    if word in ACRONYMS_SPELLED or not re.search("[AEIOU]", word):
        return " ".join(_LETTERS[c] for c in word)
    return word


_HANDLERS: Final[Mapping[str, Callable[[re.Match[str]], str]]] = {
    "money": _money,
    "cpf": _grouped,
    "cnpj": _grouped,
    "phone": _phone,
    "toll_free": _phone,
    "iso_date": _iso_date,
    "date": _date,
    "time": _time,
    "percent": _percent,
    "ordinal": _ordinal,
    "dashed": _grouped,
    "number": _number,
    "abbreviation": lambda m: ABBREVIATIONS[m[0]],
    "acronym": _acronym,
    "glued": _glued,
}
