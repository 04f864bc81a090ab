from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaserver.domain.dates import MONTHS
from mediaserver.domain.pipeline import Postprocessor

from .speech import big_cardinal, cardinal

PP = Postprocessor()
_MONTH_NAMES = [name for name in MONTHS if name != "marco"]


def _run(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    result = PP.process(text)
    for ent in result.entities:
        assert result.text[ent.start : ent.end] == ent.text
    return result.text, [(e.type, e.text, e.value) for e in result.entities]


@pytest.mark.parametrize(
    ("said", "written", "entities"),
    [
        ("a fatura vence dia vinte e oito", "a fatura vence dia 28", []),
        ("pode ser no dia um", "pode ser no dia 1", []),
        ("vence dia primeiro", "vence dia 1º", []),
        ("vence dia dois de junho", "vence dia 2 de junho", [("date", "2 de junho", "--06-02")]),
        ("nasci em três de outubro de mil novecentos e oitenta e cinco",
         "nasci em 3 de outubro de 1985", [("date", "3 de outubro de 1985", "1985-10-03")]),
        ("dia primeiro de Janeiro", "dia 1º de Janeiro", [("date", "1º de Janeiro", "--01-01")]),
        ("trinta do onze de dois mil e vinte e quatro", "30/11/2024",
         [("date", "30/11/2024", "2024-11-30")]),
        ("vence dia cinco do sete", "vence dia 05/07", [("date", "05/07", "--07-05")]),
        ("o boleto de 10 de março de 2026", "o boleto de 10 de março de 2026",
         [("date", "10 de março de 2026", "2026-03-10")]),
        # not dates: no date word before `do`, a day the month lacks, a non-leap 29 February
        ("cinco do sete", "5 do 7", []),
        ("trinta de fevereiro", "30 de fevereiro", []),
        ("vinte e nove de fevereiro de dois mil e vinte e três", "29 de fevereiro de 2023", []),
        ("vinte e nove de fevereiro de dois mil e vinte e quatro", "29 de fevereiro de 2024",
         [("date", "29 de fevereiro de 2024", "2024-02-29")]),
        # ordinals outside a date are left as said
        ("ficou em primeiro lugar", "ficou em primeiro lugar", []),
        ("é a segunda parcela", "é a segunda parcela", []),
        ("a primeira vez", "a primeira vez", []),
        # a run of digits said one by one is not a day
        ("dia um dois três", "dia 123", []),
    ],
)  # fmt: skip
def test_dates(said: str, written: str, entities: list[tuple[str, str, str]]) -> None:
    assert _run(said) == (written, entities)


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(datetime.date(1950, 1, 1), datetime.date(2099, 12, 31)),
    with_year=st.booleans(),
    numeric=st.booleans(),
)
def test_any_real_date_said_in_words(day: datetime.date, with_year: bool, numeric: bool) -> None:
    said_day = "primeiro" if day.day == 1 and not numeric else cardinal(day.day)
    year = f" de {big_cardinal(day.year)}" if with_year else ""
    iso = day.isoformat() if with_year else day.strftime("--%m-%d")
    if numeric:
        said = f"vence dia {said_day} do {cardinal(day.month)}{year}"
        formatted = f"{day:%d/%m}" + (f"/{day.year}" if with_year else "")
    else:
        month = _MONTH_NAMES[day.month - 1]
        said = f"vence dia {said_day} de {month}{year}"
        first = "1º" if day.day == 1 else str(day.day)
        formatted = f"{first} de {month}" + (f" de {day.year}" if with_year else "")
    assert _run(said) == (f"vence dia {formatted}", [("date", formatted, iso)])
