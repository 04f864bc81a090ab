"""pt-BR text made speakable: table-driven cases and a round trip through the ITN parser."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaserver.domain.lexicon import tokenize
from mediaserver.domain.numbers import parse_cardinal
from mediaserver.domain.speakable import cardinal, digits, money, ordinal, speakable


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (1, "um"),
        (14, "quatorze"),
        (16, "dezesseis"),
        (21, "vinte e um"),
        (100, "cem"),
        (101, "cento e um"),
        (200, "duzentos"),
        (999, "novecentos e noventa e nove"),
        (1000, "mil"),
        (1001, "mil e um"),
        (1100, "mil e cem"),
        (1234, "mil duzentos e trinta e quatro"),
        (2026, "dois mil e vinte e seis"),
        (21_000, "vinte e um mil"),
        (100_000, "cem mil"),
        (1_000_000, "um milhão"),
        (1_200_000, "um milhão e duzentos mil"),
        (2_000_001, "dois milhões e um"),
        (1_234_567, "um milhão duzentos e trinta e quatro mil quinhentos e sessenta e sete"),
        (3_000_000_000, "três bilhões"),
    ],
)
def test_cardinal(n: int, words: str) -> None:
    assert cardinal(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [(1, "uma"), (2, "duas"), (22, "vinte e duas"), (200, "duzentas"), (2000, "duas mil")],
)
def test_feminine_cardinal(n: int, words: str) -> None:
    assert cardinal(n, feminine=True) == words


def test_feminine_does_not_reach_millions() -> None:
    assert cardinal(2_000_000, feminine=True) == "dois milhões"


@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_cardinal_reads_back_through_the_itn_parser(n: int) -> None:
    words = [t.norm for t in tokenize(cardinal(n))]
    assert parse_cardinal(words, 0) == (n, len(words))


@pytest.mark.parametrize("n", [-1, 10**15])
def test_cardinal_out_of_range(n: int) -> None:
    with pytest.raises(ValueError, match="cardinal"):
        cardinal(n)


def test_money_rounds_to_cents() -> None:
    assert money(Decimal("1.005")) == "um real e um centavo"
    assert money(Decimal("2")) == "dois reais"


def test_ordinal_and_digits() -> None:
    assert ordinal(1) == "primeiro"
    assert ordinal(21, feminine=True) == "vigésima primeira"
    assert ordinal(10) == "décimo"
    assert digits("0809") == "zero oito zero nove"
    with pytest.raises(ValueError, match="ordinal"):
        ordinal(100)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # money
        ("R$ 1.234,56", "mil duzentos e trinta e quatro reais e cinquenta e seis centavos"),
        ("R$1,00", "um real"),
        ("R$ 0,01", "um centavo"),
        ("R$ 0,00", "zero reais"),
        ("R$ 10", "dez reais"),
        ("R$ 1.000.000,00", "um milhão de reais"),
        ("R$ 2 milhões", "dois milhões de reais"),
        ("R$ 1,5 milhão", "um milhão e quinhentos mil reais"),
        ("R$ 5 mil", "cinco mil reais"),
        # identifiers, digit by digit in their groups
        ("123.456.789-09", "um dois três, quatro cinco seis, sete oito nove, traço zero nove"),
        (
            "12.345.678/0001-90",
            "um dois, três quatro cinco, seis sete oito, zero zero zero um, traço nove zero",
        ),
        ("(11) 98765-4321", "um um, nove oito sete seis cinco, quatro três dois um"),
        ("0800 123 4567", "zero oito zero zero, um dois três, quatro cinco seis sete"),
        ("1234-5", "um dois três quatro, traço cinco"),
        ("protocolo 20261120", "protocolo dois zero dois seis um um dois zero"),
        ("conta 00123", "conta zero zero um dois três"),
        # dates and times
        ("20/11/2026", "vinte de novembro de dois mil e vinte e seis"),
        ("01/02", "primeiro de fevereiro"),
        ("5/3/26", "cinco de março de dois mil e vinte e seis"),
        ("2026-11-20", "vinte de novembro de dois mil e vinte e seis"),
        ("14h30", "quatorze horas e trinta minutos"),
        ("1h", "uma hora"),
        ("21:01", "vinte e uma horas e um minuto"),
        # percentages, decimals, ordinals, plain numbers
        ("10%", "dez por cento"),
        ("2,5 %", "dois vírgula cinco por cento"),
        ("0,05%", "zero vírgula zero cinco por cento"),
        ("3,14", "três vírgula quatorze"),
        ("1º lugar", "primeiro lugar"),
        ("2ª via", "segunda via"),
        ("1.500 pessoas", "mil e quinhentas pessoas"),
        ("2 parcelas", "duas parcelas"),
        ("2 cartões", "dois cartões"),
        # acronyms and abbreviations
        ("PIX", "pix"),
        ("CPF", "cê pê efe"),
        ("CNPJ", "cê ene pê jota"),
        ("BB", "bê bê"),
        ("OK", "OK"),
        ("Sr. João", "senhor João"),
        ("nº 12", "número doze"),
    ],
)
def test_speakable(text: str, said: str) -> None:
    assert speakable(text) == said


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "Seu CPF 123.456.789-09 tem R$ 50,00 a pagar em 20/11/2026.",
            "Seu cê pê efe um dois três, quatro cinco seis, sete oito nove, traço zero nove "
            "tem cinquenta reais a pagar em vinte de novembro de dois mil e vinte e seis.",
        ),
        ("Olá, tudo bem?", "Olá, tudo bem?"),
        ("", ""),
        ("Faça um PIX.", "Faça um pix."),
    ],
)
def test_sentences_keep_their_words_and_punctuation(text: str, said: str) -> None:
    assert speakable(text) == said


@pytest.mark.parametrize("text", ["32/13/2026", "99h", "25:61"])
def test_impossible_dates_and_times_are_not_read_as_such(text: str) -> None:
    said = speakable(text)
    assert "de" not in said.split()
    assert "horas" not in said
    assert not any(c.isdigit() for c in said)


@given(st.text(alphabet="0123456789.,-/R$%:hº ()ABCPFXaeiou", max_size=40))
def test_any_text_comes_out_without_digits(text: str) -> None:
    assert not any(c.isdigit() for c in speakable(text))


@pytest.mark.parametrize(
    ("text", "said"),
    [("4G", "quatro G"), ("10kg", "dez kg"), ("versão 1.2.3", "versão um.dois.três")],
)
def test_digits_glued_to_other_characters(text: str, said: str) -> None:
    assert speakable(text) == said
