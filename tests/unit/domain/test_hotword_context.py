"""§5 for hot words: several words written together or apart, and hot words that are also
ordinary Portuguese words (replaced only in banking context or when written capitalised)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaserver.domain.hotword_context import CONTEXT_WORDS, ORDINARY_WORDS
from mediaserver.domain.hotwords import HotWordCorrector
from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor, Rewrite

HOT = ("Caixa", "Inter", "Neon", "Original", "Mercado Pago", "Banco do Brasil", "Selic", "PIX")
PP = Postprocessor()


def correct(text: str) -> tuple[str, int]:
    return HotWordCorrector(HOT).correct(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paguei pelo mercadopago", "paguei pelo Mercado Pago"),
        ("paguei pelo Mercadopago ontem", "paguei pelo Mercado Pago ontem"),
        ("abri no bancodobrasil", "abri no Banco do Brasil"),
        ("abri no banco dobrasil", "abri no Banco do Brasil"),
        # ordinary-word hot words next to banking context, before or after, within 3 words
        ("o saldo da caixa", "o saldo da Caixa"),
        ("caixa, conta corrente", "Caixa, conta corrente"),
        ("o aplicativo do inter travou", "o aplicativo do Inter travou"),
        ("minha conta é do neon", "minha conta é do Neon"),
        ("transferência pro original", "transferência pro Original"),
        ("a fatura x y caixa", "a fatura x y Caixa"),
        # loose matches of them need the context too
        ("minha conta na kaixa", "minha conta na Caixa"),
        # written capitalised in mid-sentence: the recognizer took it for a name
        ("ontem o Neom caiu", "ontem o Neon caiu"),
    ],
)  # fmt: skip
def test_replaced(text: str, expected: str) -> None:
    assert correct(text) == (expected, 1)


@pytest.mark.parametrize(
    "text",
    [
        "guardei numa caixa de sapato",
        "a caixa do supermercado",
        "o neom caiu",  # a loose match without context stays too
        "Neom caiu ontem",  # a capital that starts the sentence is no evidence
        "Ok. Neom caiu",
        "MINHA CAIXA DE SAPATO ESTÁ NO BANCO DE TRÁS",  # all capitals: no evidence either
        "a conta x y z caixa",  # the context word is 4 words away
        "o original é melhor",
        "um jogo inter escolar",
        "o mercado pagou bem",
    ],
)
def test_kept(text: str) -> None:
    assert correct(text) == (text, 0)


def test_context_crosses_an_entity_in_the_pipeline() -> None:
    # `saldo` is 3 words from `caixa` only if the amount between counts as one word.
    options = PostprocessOptions(hot_words=("Caixa",))
    result = PP.process("meu saldo: cento e dez reais na caixa", options)
    assert result.text == "meu saldo: R$ 110,00 na Caixa"
    assert [result.text[e.start : e.end] for e in result.entities] == ["R$ 110,00"]
    far = PP.process("meu saldo: cento e dez reais lá na caixa", options)
    assert far.text == "meu saldo: R$ 110,00 lá na caixa"


def test_rule_names_in_the_trace() -> None:
    trace: list[Rewrite] = []
    result = PP.process(
        "a selique subiu e paguei no mercadopago e no bradeco",
        PostprocessOptions(hot_words=("Selic", "Mercado Pago", "Bradesco")),
        trace,
    )
    assert result.text == "a Selic subiu e paguei no Mercado Pago e no Bradesco"
    # `selique` is the phonetic key's example, not the similarity rule's (their ratio is 67).
    assert [(r.rule, r.before, r.after) for r in trace] == [
        ("hotword.phonetic", "selique", "Selic"),
        ("hotword.exact", "mercadopago", "Mercado Pago"),
        ("hotword.similar", "bradeco", "Bradesco"),
    ]
    assert all(result.text[r.start : r.end] == r.after for r in trace)


_FILLER = ["eu", "guardei", "a", "numa", "de", "sapato", "ontem", "no", "supermercado", "perto",
           "da", "casa", "minha", "mãe", "tinha", "uma", "grande", "na", "loja"]  # fmt: skip
_ORDINARY_HOT = ["Caixa", "Inter", "Original", "Neon", "Safra", "Modal"]


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(st.sampled_from(_FILLER), max_size=8),
    after=st.lists(st.sampled_from(_FILLER), max_size=8),
    hot=st.sampled_from(_ORDINARY_HOT),
)
def test_ordinary_word_without_context_is_never_replaced(
    before: list[str], after: list[str], hot: str
) -> None:
    text = " ".join([*before, hot.lower(), *after])
    assert HotWordCorrector((hot, "PIX", "Nubank")).correct(text) == (text, 0)


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(st.sampled_from(_FILLER), max_size=6),
    gap=st.lists(st.sampled_from(_FILLER), max_size=2),
    context=st.sampled_from(sorted(CONTEXT_WORDS)),
    hot=st.sampled_from(_ORDINARY_HOT),
    context_first=st.booleans(),
)
def test_ordinary_word_within_three_words_of_context_is_replaced(
    before: list[str], gap: list[str], context: str, hot: str, context_first: bool
) -> None:
    near = [context, *gap, hot.lower()] if context_first else [hot.lower(), *gap, context]
    text = " ".join([*before, *near])
    fixed, hits = HotWordCorrector((hot,)).correct(text)
    assert hits == 1
    assert fixed.split() == [hot if w == hot.lower() else w for w in text.split()]


def test_the_ordinary_words_are_folded() -> None:
    assert all(w.isascii() and w.islower() and w.isalpha() for w in ORDINARY_WORDS)
    assert all(w.isascii() and w.islower() and w.isalpha() for w in CONTEXT_WORDS)
