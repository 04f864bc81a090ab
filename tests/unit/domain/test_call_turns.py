"""Whole caller turns as recognizers write them, mixing several entities; and the trace that
`--explain` prints, checked against the output it explains."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor, Rewrite

PP = Postprocessor()
HOT = ("PIX", "Caixa", "Mercado Pago", "Nubank", "Itaú", "Selic")

TURNS = [
    # faster-whisper: digits, capitals, punctuation, digits mixed with number words
    (
        "Bom dia, meu CPF é 529.982.247-25 e eu queria transferir 2 mil reais pra chave "
        "3f2a9c10 7b4e 4d21 9a0f 5c6e7d8b9a01 até dia 15 de março.",
        "Bom dia, meu CPF é 529.982.247-25 e eu queria transferir R$ 2.000,00 pra chave "
        "3f2a9c10-7b4e-4d21-9a0f-5c6e7d8b9a01 até dia 15 de março.",
        ["cpf", "money", "pix_key", "date"],
    ),
    (
        "Oi, o meu telefone é (011) 98765-4321. A fatura deu 340 reais e 90, vence dia 10.",
        "Oi, o meu telefone é (11) 98765-4321. A fatura deu R$ 340,90, vence dia 10.",
        ["phone", "money"],
    ),
    (
        "Trezentos reais. Pode mandar no meu email, joana.prado@gmail.com, obrigada.",
        "R$ 300,00. Pode mandar no meu email, joana.prado@gmail.com, obrigada.",
        ["money", "email"],
    ),
    # CTC: lower-case words, no punctuation
    (
        "oi meu celular é zero onze nove oito sete seis cinco quatro três dois um e a fatura de "
        "trezentos e quarenta reais e noventa vence dia dez",
        "oi meu celular é (11) 98765-4321 e a fatura de R$ 340,90 vence dia 10",
        ["phone", "money"],
    ),
    (
        "quero fazer um pics de cento e cinquenta reais pra minha conta na kaixa no dia "
        "primeiro de abril",
        "quero fazer um PIX de R$ 150,00 pra minha conta na Caixa no dia 1º de abril",
        ["money", "date"],
    ),
    (
        "meu email é joana ponto prado arroba gmail ponto com e a taxa foi de um vírgula cinco "
        "por cento ao mês no mercadopago",
        "meu email é joana.prado@gmail.com e a taxa foi de 1,5% ao mês no Mercado Pago",
        ["email"],
    ),
    (
        "guardei o cartão e os papéis numa caixa de sapato e o cpf é cinco dois nove nove oito "
        "dois dois quatro sete dois cinco",
        "guardei o cartão e os papéis numa caixa de sapato e o CPF é 529.982.247-25",
        ["cpf"],
    ),
    (
        "a parcela de vinte e cinco do doze de dois mil e vinte e cinco foi de 1,5 mil reais "
        "e a primeira parcela já caiu",
        "a parcela de 25/12/2025 foi de R$ 1.500,00 e a primeira parcela já caiu",
        ["date", "money"],
    ),
]


@pytest.mark.parametrize(("said", "written", "types"), TURNS)
def test_whole_turn(said: str, written: str, types: list[str]) -> None:
    trace: list[Rewrite] = []
    result = PP.process(said, PostprocessOptions(hot_words=HOT), trace)
    assert result.text == written
    assert [e.type for e in result.entities] == types
    for ent in result.entities:
        assert result.text[ent.start : ent.end] == ent.text
    for rewrite in trace:
        assert result.text[rewrite.start : rewrite.end] == rewrite.after


def test_turn_redacted_explanation_shows_no_digits() -> None:
    trace: list[Rewrite] = []
    said = "meu cpf é cinco dois nove nove oito dois dois quatro sete dois cinco"
    PP.process(said, PostprocessOptions(redact=True), trace)
    assert [(r.rule, r.before, r.after) for r in trace] == [
        ("acronym", "cpf", "CPF"),
        ("cpf", "***** **** **** **** **** **** **** ****** **** **** *****", "***.***.***-25"),
    ]


def test_without_a_trace_the_result_is_the_same() -> None:
    for said, written, _ in TURNS:
        assert PP.process(said, PostprocessOptions(hot_words=HOT)).text == written


_VOCAB = ["meu", "cpf", "é", "cinco", "dois", "nove", "zero", "onze", "celular", "2", "mil",
          "reais", "e", "50", "vinte", "dia", "de", "março", "do", "doze", "primeiro", "chave",
          "3f2a9c10", "7b4e", "4d21", "9a0f", "5c6e7d8b9a01", "-", "arroba", "ponto", "com",
          "ana", "R$", "por", "cento", "vírgula", "kaixa", "conta", "mercadopago", "pics", ",",
          ".", "(011)", "98765-4321", "Cinco"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(
        st.lists(st.sampled_from(_VOCAB), max_size=30).map(" ".join),
        st.text(max_size=60),
    ),
    hot=st.booleans(),
    redact=st.booleans(),
)
def test_trace_explains_the_output_exactly(text: str, hot: bool, redact: bool) -> None:
    """Putting every rewrite's `before` back in place of its `after` gives the input again:
    the trace misses no change and makes none up."""
    trace: list[Rewrite] = []
    options = PostprocessOptions(redact=redact, hot_words=HOT if hot else ())
    result = PP.process(text, options, trace)
    rebuilt, cursor = [], 0
    for rewrite in trace:
        assert rewrite.start >= cursor
        assert result.text[rewrite.start : rewrite.end] == rewrite.after
        rebuilt += [result.text[cursor : rewrite.start], rewrite.before]
        cursor = rewrite.end
    rebuilt.append(result.text[cursor:])
    if not redact:
        assert "".join(rebuilt) == text
    else:
        assert len("".join(rebuilt)) == len(text)
    assert bool(trace) == (result.text != text)
