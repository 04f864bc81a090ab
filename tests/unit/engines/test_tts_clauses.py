"""Text split into the clauses TTS engines synthesize one at a time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaserver.engines.tts.clauses import MAX_CHARS, split_clauses


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        ("Olá, tudo bem?", ["Olá, tudo bem?"]),  # a short comma phrase stays whole
        (
            "Olá, bom dia. Seu saldo é de mil reais. Posso ajudar?",
            ["Olá, bom dia.", "Seu saldo é de mil reais.", "Posso ajudar?"],
        ),
        (
            "um, dois, três, quatro, cinco, seis, sete, oito, nove, dez, onze",
            ["um, dois, três, quatro, cinco,", "seis, sete, oito, nove, dez,", "onze"],
        ),
        ("linha um\nlinha dois", ["linha um", "linha dois"]),
        ("Espere... Pronto!", ["Espere...", "Pronto!"]),
        ("R$ 1.234,56 e 1,5", ["R$ 1.234,56 e 1,5"]),  # no space after the mark: no boundary
        ("  Olá.  ", ["Olá."]),
        ("", []),
        ("   \n ", []),
    ],
)
def test_split(text: str, clauses: list[str]) -> None:
    assert split_clauses(text) == clauses


def test_long_clauses_are_cut_at_a_space() -> None:
    words = " ".join(["palavra"] * 100)  # 799 characters, no punctuation
    clauses = split_clauses(words)
    assert all(len(c) <= MAX_CHARS for c in clauses)
    assert " ".join(clauses) == words
    assert all(c.split() == ["palavra"] * len(c.split()) for c in clauses)


def test_a_word_longer_than_the_limit_is_cut_anyway() -> None:
    assert split_clauses("x" * 25, max_chars=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_bad_limits() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        split_clauses("Olá", max_chars=0)


@given(st.text(alphabet="abc ,.!?;:\n", max_size=300), st.integers(0, 40), st.integers(1, 60))
def test_words_survive_in_order_and_clauses_respect_the_limit(
    text: str, min_chars: int, max_chars: int
) -> None:
    clauses = split_clauses(text, min_chars, max_chars)
    assert all(clause and clause == clause.strip() for clause in clauses)
    assert all(len(clause) <= max_chars for clause in clauses)
    assert "".join("".join(clauses).split()) == "".join(text.split())
