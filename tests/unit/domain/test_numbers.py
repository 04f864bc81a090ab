from __future__ import annotations

import pytest

from mediaserver.domain.lexicon import tokenize
from mediaserver.domain.numbers import Num, group_thousands, parse_cardinal, parse_elements


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ("zero", 0), ("sete", 7), ("catorze", 14), ("quatorze", 14), ("dezenove", 19),
        ("quarenta e oito", 48), ("cem", 100), ("cento e um", 101), ("cento e dezessete", 117),
        ("trezentas e doze", 312), ("novecentos e noventa e nove", 999), ("mil", 1000),
        ("mil e oito", 1008), ("três mil quatrocentos e dois", 3402),
        ("dois mil e dezenove", 2019), ("quarenta e dois mil", 42000),
        ("um milhão", 1_000_000), ("dois milhões trezentos mil e seis", 2_300_006),
        ("setecentos mil", 700_000), ("um bilhão e cinco", 1_000_000_005),
    ],
)  # fmt: skip
def test_cardinals(words: str, value: int) -> None:
    tokens = words.split()
    assert parse_cardinal(tokens, 0) == (value, len(tokens))


@pytest.mark.parametrize(
    ("words", "value", "used"),
    [
        ("vinte e um nove", 21, 3),  # a unit ends a cardinal: `nove` starts the next number
        ("trezentos quarenta", 300, 1),  # no `e`: two numbers, as when reading digit groups
        ("dois e três", 2, 1),  # `e` joins only what a cardinal can hold
        ("mil e uma noites", 1001, 3),
        ("cinco mil e", 5000, 2),  # a trailing `e` is not swallowed
        ("cem e vinte", 100, 1),
    ],
)
def test_cardinal_boundaries(words: str, value: int, used: int) -> None:
    assert parse_cardinal(words.split(), 0) == (value, used)


@pytest.mark.parametrize("words", ["cento", "meia", "mil milhões", "reais", ""])
def test_not_cardinals(words: str) -> None:
    parsed = parse_cardinal(words.split(), 0)
    assert parsed is None or parsed[1] < len(words.split())


def _nums(text: str) -> list[tuple[str, str]]:
    return [(e.kind, e.digits) for e in parse_elements(tokenize(text)) if isinstance(e, Num)]


def test_elements_keep_every_number_apart() -> None:
    assert _nums("sete oito, cento e dois 1.250 e quarenta") == [
        ("digit", "7"), ("digit", "8"), ("cardinal", "102"), ("written", "1250"),
        ("cardinal", "40"),
    ]  # fmt: skip


def test_meia_is_a_digit_only_next_to_digits() -> None:
    assert _nums("meia hora") == []
    assert _nums("três meia meia") == [("digit", "3"), ("digit", "6"), ("digit", "6")]


def test_offsets_point_into_the_text() -> None:
    text = "tem Vinte e Dois itens"
    (num,) = [e for e in parse_elements(tokenize(text)) if isinstance(e, Num)]
    assert text[num.start : num.end] == "Vinte e Dois"
    assert num.value == 22


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (2019, "2019"), (9999, "9999"), (10000, "10.000"), (123456, "123.456"),
     (7_000_001, "7.000.001")],
)  # fmt: skip
def test_group_thousands(value: int, text: str) -> None:
    assert group_thousands(value) == text
