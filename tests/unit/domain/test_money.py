from __future__ import annotations

import pytest

from mediaserver.domain.document import Document
from mediaserver.domain.itn import apply_itn
from mediaserver.domain.money import find_money, format_money


def run(text: str) -> tuple[str, list[str]]:
    doc = Document(text)
    find_money(doc)
    apply_itn(doc)
    out, entities = doc.render()
    assert all(out[e.start : e.end] == e.text for e in entities)
    return out, [e.value for e in entities]


@pytest.mark.parametrize(
    ("spoken", "written", "values"),
    [
        ("paguei duzentos e trinta reais e quarenta centavos", "paguei R$ 230,40", ["230.40"]),
        ("setenta e cinco centavos", "R$ 0,75", ["0.75"]),
        ("um centavo", "R$ 0,01", ["0.01"]),
        ("um real", "R$ 1,00", ["1.00"]),
        ("dois reais com cinco centavos", "R$ 2,05", ["2.05"]),
        ("três milhões de reais", "R$ 3.000.000,00", ["3000000.00"]),
        ("doze mil e quinhentos reais", "R$ 12.500,00", ["12500.00"]),
        ("quatro vírgula nove reais", "R$ 4,90", ["4.90"]),
        ("R$ 2300", "R$ 2.300,00", ["2300.00"]),
        ("R$2300", "R$ 2.300,00", ["2300.00"]),
        ("R$ 45,5", "R$ 45,50", ["45.50"]),
        ("R$ quarenta reais", "R$ 40,00", ["40.00"]),
        ("9.876,54 reais", "R$ 9.876,54", ["9876.54"]),
        ("1.500 reais", "R$ 1.500,00", ["1500.00"]),
        ("custa 12,90 reais ou 15 reais", "custa R$ 12,90 ou R$ 15,00", ["12.90", "15.00"]),
        # not money: no currency word, or cents that are not cents
        ("quinhentos reis", "500 reis", []),
        ("cem reais e dois cartões", "R$ 100,00 e dois cartões", ["100.00"]),
        ("cento e vinte centavos", "120 centavos", []),
        ("os reais problemas", "os reais problemas", []),
    ],
)
def test_money(spoken: str, written: str, values: list[str]) -> None:
    assert run(spoken) == (written, values)


def test_format_money() -> None:
    assert format_money(123_456_789) == ("R$ 1.234.567,89", "1234567.89")
    assert format_money(5) == ("R$ 0,05", "0.05")
