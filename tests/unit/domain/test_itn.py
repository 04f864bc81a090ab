from __future__ import annotations

import pytest

from mediaserver.domain.document import Document
from mediaserver.domain.itn import apply_itn


def itn(text: str) -> str:
    doc = Document(text)
    apply_itn(doc)
    return doc.render()[0]


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        # cardinals, feminine forms and pt-BR variants
        ("quarenta e dois", "42"),
        ("mil novecentos e oitenta e quatro", "1984"),
        ("trezentas e quinze pessoas", "315 pessoas"),
        ("quinhentas e uma vezes", "501 vezes"),
        ("catorze ou quatorze", "14 ou 14"),
        ("dezesseis, dezessete e dezenove", "16, 17 e 19"),
        ("três", "3"),
        # thousands separator only from 10000 on
        ("nove mil oitocentos e setenta e seis", "9876"),
        ("dez mil", "10.000"),
        ("oitenta e três mil e quarenta", "83.040"),
        ("quatro milhões", "4.000.000"),
        # articles standing alone stay words; inside a digit run they are digits
        ("uma pessoa e dois carros", "uma pessoa e dois carros"),
        ("duas vezes um", "duas vezes um"),
        ("um quatro dois", "142"),
        ("duas e uma", "duas e uma"),
        # decimals and percent
        ("sete vírgula dois", "7,2"),
        ("doze vírgula zero três", "12,03"),
        ("zero vírgula vinte e cinco", "0,25"),
        ("quinze mil vírgula cinco", "15.000,5"),
        ("oito por cento", "8%"),
        ("um por cento", "1%"),
        ("três vírgula sete por cento ao mês", "3,7% ao mês"),
        ("cem por cento", "100%"),
        # digit runs and `meia`
        ("sete zero zero um", "7001"),
        ("meia quatro meia", "646"),
        ("meia hora", "meia hora"),
        ("seis e meia", "6 e meia"),
        ("zero", "0"),
        # groups keep the spaces of the speaker's grouping
        ("trezentos e doze quatro cinco", "312 45"),
        ("vinte e um nove nove", "21 99"),
        # already written digits stay as written
        ("456 e 2.300 e 12,50", "456 e 2.300 e 12,50"),
        ("7 por cento", "7%"),
        # everything else is kept: casing, punctuation, words
        ("Olá, Tudo Bem? Quarenta!", "Olá, Tudo Bem? 40!"),
        ("por cento", "por cento"),
        ("um, dois, três", "um, dois, 3"),
    ],
)
def test_itn_rules(spoken: str, written: str) -> None:
    assert itn(spoken) == written


def test_cardinal_value_hook_is_used_for_spoken_cardinals_only() -> None:
    seen: list[str] = []

    def value(words: str, parsed: int) -> int:
        seen.append(words)
        return parsed + 1

    doc = Document("vinte e dois, nove oito e 15")
    apply_itn(doc, value)
    assert doc.render()[0] == "23, 98 e 15"
    assert seen == ["vinte e dois"]
