"""Words and tokens of spoken pt-BR numbers.

Matching is on the lower-cased word, never on an accent-stripped one: stripping would turn the
verb `é` into the connector `e`. Common spellings without accents are listed explicitly instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

UNITS = {
    "zero": 0, "um": 1, "uma": 1, "dois": 2, "duas": 2, "três": 3, "tres": 3, "quatro": 4,
    "cinco": 5, "seis": 6, "sete": 7, "oito": 8, "nove": 9,
}  # fmt: skip
TEENS = {
    "dez": 10, "onze": 11, "doze": 12, "treze": 13, "quatorze": 14, "catorze": 14, "quinze": 15,
    "dezesseis": 16, "dezasseis": 16, "dezessete": 17, "dezassete": 17, "dezoito": 18,
    "dezenove": 19, "dezanove": 19,
}  # fmt: skip
TENS = {
    "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "cinqüenta": 50,
    "sessenta": 60, "setenta": 70, "oitenta": 80, "noventa": 90,
}  # fmt: skip
HUNDREDS = {
    "cem": 100, "cento": 100, "duzentos": 200, "duzentas": 200, "trezentos": 300,
    "trezentas": 300, "quatrocentos": 400, "quatrocentas": 400, "quinhentos": 500,
    "quinhentas": 500, "seiscentos": 600, "seiscentas": 600, "setecentos": 700,
    "setecentas": 700, "oitocentos": 800, "oitocentas": 800, "novecentos": 900,
    "novecentas": 900,
}  # fmt: skip
SCALES = {
    "mil": 1000, "milhão": 10**6, "milhao": 10**6, "milhões": 10**6, "milhoes": 10**6,
    "bilhão": 10**9, "bilhao": 10**9, "bilhões": 10**9, "bilhoes": 10**9,
}  # fmt: skip
# `meia` (from `meia dúzia`) is how 6 is said when reading digits out, and only then.
MEIA = "meia"
# Single words that are usually articles or plain quantities when they stand alone.
ARTICLES = frozenset({"um", "uma", "dois", "duas"})
CONNECTOR = "e"
DECIMAL_WORDS = frozenset({"vírgula", "virgula"})

# Spoken separators between digit groups of an entity.
SEPARATOR_WORDS = frozenset({"ponto", "traço", "traco", "hífen", "hifen", "menos", "barra"})
SEPARATOR_PUNCT = frozenset({",", ".", "-", "/", "(", ")"})
ACRONYMS = frozenset({"cpf", "cnpj", "pix", "cep", "ted", "doc"})

TokenKind = Literal["word", "num", "punct"]

_TOKEN = re.compile(r"(?P<num>\d+(?:[.,]\d+)*)|(?P<word>[^\W\d_]+)|(?P<punct>[^\w\s]|_)")


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    end: int
    norm: str  # lower case; what the tables above are matched against


def tokenize(text: str) -> list[Token]:
    """Words, digit strings (with inner `.`/`,`) and single punctuation marks, with offsets."""
    tokens = []
    for m in _TOKEN.finditer(text):
        kind: TokenKind = m.lastgroup  # type: ignore[assignment]  # the regex's group names
        word = m.group()
        tokens.append(Token(kind, word, m.start(), m.end(), word.lower()))
    return tokens


def is_digit_word(norm: str) -> bool:
    return norm in UNITS or norm == MEIA
