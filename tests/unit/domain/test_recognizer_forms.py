"""POSTPROCESSING.md §5: the forms faster-whisper (digits, odd spacing) and CTC models (lower-case
words, no punctuation) write. Cases are written from the rules, not copied from its examples."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaserver.domain import checks
from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor

from .speech import big_cardinal, cardinal, spoken_digits

PP = Postprocessor()


def _run(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    result = PP.process(text)
    for ent in result.entities:
        assert result.text[ent.start : ent.end] == ent.text
    return result.text, [(e.type, e.text, e.value) for e in result.entities]


def _money(reais: int, cents: int = 0) -> str:
    return "R$ " + f"{reais:,}".replace(",", ".") + f",{cents:02d}"


# ---- digits and scale words ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "written"),
    [
        ("o limite é 5 mil", "o limite é 5.000"),
        ("uns 12 mil reais", "uns R$ 12.000,00"),
        ("R$ 7 mil", "R$ 7.000,00"),
        ("R$ 7 mil reais", "R$ 7.000,00"),
        ("2,5 milhões de reais", "R$ 2.500.000,00"),
        ("4 milhões", "4.000.000"),
        ("3 mil e 200 reais", "R$ 3.200,00"),
        ("3 mil e duzentos clientes", "3.200 clientes"),
        ("1 milhão e 500 mil", "1.500.000"),
        ("2 bilhões", "2.000.000.000"),
        ("R$ 1,5 mil", "R$ 1.500,00"),
        # digits written right after letters are part of a code (`C6`), not an amount; the
        # recognizer's `A G2 mil reais` for `Paguei 2 mil reais` must not become `GR$ ...`
        ("A G2 mil reais.", "A G2 mil reais."),
        ("no C6 reais", "no C6 reais"),
        ("7 por cento", "7%"),
        ("3,75 por cento ao mês", "3,75% ao mês"),
        ("juros de 12 por cento, certo?", "juros de 12%, certo?"),
    ],
)  # fmt: skip
def test_written_digits_with_spoken_scale_and_percent(said: str, written: str) -> None:
    assert _run(said)[0] == written


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 999),
    scale=st.sampled_from([("mil", 10**3), ("milhões", 10**6)]),
    unit=st.sampled_from(["reais", "de reais", ""]),
)
def test_any_written_amount_with_a_scale_word(n: int, scale: tuple[str, int], unit: str) -> None:
    word, factor = scale
    if unit == "de reais" and word == "mil":
        unit = "reais"  # `de` only follows milhão/milhões
    text, entities = _run(f"foram {n} {word} {unit}".rstrip())
    grouped = f"{n * factor:,}".replace(",", ".")
    if unit:
        assert (text, entities) == (f"foram R$ {grouped},00", [
            ("money", f"R$ {grouped},00", f"{n * factor}.00")])  # fmt: skip
    else:
        assert (text, entities) == (f"foram {grouped}", [])


# ---- cents without `centavos` -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "written"),
    [
        ("custou duzentos reais e trinta", "custou R$ 200,30"),
        ("45 reais e 9", "R$ 45,09"),
        ("noventa e nove reais e noventa e nove", "R$ 99,99"),
        ("um real e quinze", "R$ 1,15"),
        # not the cents of the amount: an article, a count, a percentage, a number too big
        ("cem reais e uma multa", "R$ 100,00 e uma multa"),
        ("50 reais e 3 parcelas", "R$ 50,00 e 3 parcelas"),
        ("dez reais e dez por cento", "R$ 10,00 e 10%"),
        ("cem reais e cem", "R$ 100,00 e 100"),
        ("vinte reais e 30 reais", "R$ 20,00 e R$ 30,00"),
        ("cem reais com cinquenta", "R$ 100,00 com 50"),
    ],
)  # fmt: skip
def test_cents_after_reais_e(said: str, written: str) -> None:
    assert _run(said)[0] == written


@settings(max_examples=200, deadline=None)
@given(
    reais=st.integers(0, 99_999),
    cents=st.integers(3, 99),
    written=st.booleans(),
)
def test_any_amount_with_bare_cents(reais: int, cents: int, written: bool) -> None:
    unit = "real" if reais == 1 else "reais"
    said = (
        f"{reais} {unit} e {cents}"
        if written
        else f"{big_cardinal(reais)} {unit} e {cardinal(cents)}"
    )
    text, entities = _run(f"deu {said} no total")
    assert text == f"deu {_money(reais, cents)} no total"
    assert [value for _, _, value in entities] == [f"{reais}.{cents:02d}"]


# ---- the trunk zero before a DDD --------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "written"),
    [
        ("meu whatsapp é zero vinte e um nove oito sete seis cinco quatro três dois um",
         "meu whatsapp é (21) 98765-4321"),
        ("telefone 0 21 3333 4444", "telefone (21) 3333-4444"),
        ("fone (021) 3333-4444", "fone (21) 3333-4444"),
        ("contato 0xx? não, contato 031 98888 7777", "contato 0xx? não, contato (31) 98888-7777"),
        # no keyword: not a phone, digits stay as written
        ("0 21 98765 4321", "0 21 98765 4321"),
        # `10` is no DDD: the zero is not a trunk prefix here
        ("celular 0 10 98765 4321", "celular 0 10 98765 4321"),
    ],
)  # fmt: skip
def test_trunk_zero_is_dropped_from_phones(said: str, written: str) -> None:
    assert _run(said)[0] == written


@st.composite
def phone_number(draw: st.DrawFn) -> str:
    """A mobile (9 + 8 digits) or landline (2-5 + 7 digits) number with its DDD."""
    ddd = draw(st.sampled_from(sorted(checks.DDDS)))
    first = draw(st.sampled_from("92345"))
    rest = draw(st.text(alphabet="0123456789", min_size=7, max_size=7))
    return f"{ddd}{first}{rest}" + (draw(st.sampled_from("0123456789")) if first == "9" else "")


@settings(max_examples=200, deadline=None)
@given(data=st.data(), phone=phone_number(), keyword=st.sampled_from(["celular", "meu zap é o"]))
def test_any_phone_said_with_its_trunk_zero(data: st.DataObject, phone: str, keyword: str) -> None:
    spoken = data.draw(spoken_digits("0" + phone))
    text, entities = _run(f"{keyword} {spoken}")
    formatted = f"({phone[:2]}) {phone[2:-4]}-{phone[-4:]}"
    assert (text, entities) == (f"{keyword} {formatted}", [("phone", formatted, phone)])


# ---- a number word that starts a sentence -----------------------------------------------------


@pytest.mark.parametrize(
    ("said", "written"),
    [
        ("Vinte reais.", "R$ 20,00."),
        ("Quarenta e dois.", "42."),
        ("Mil e quinhentos reais, certo?", "R$ 1.500,00, certo?"),
        ("Certo. Duzentas e dez parcelas? Não.", "Certo. 210 parcelas? Não."),
        ("Cinquenta centavos.", "R$ 0,50."),
        ("Um momento.", "Um momento."),  # an article stays a word wherever it stands
    ],
)  # fmt: skip
def test_number_word_starting_a_sentence(said: str, written: str) -> None:
    assert _run(said)[0] == written


# ---- random PIX keys written loosely ----------------------------------------------------------

KEY = "3f2a9c10-7b4e-4d21-9a0f-5c6e7d8b9a01"


@pytest.mark.parametrize(
    "said",
    [
        "a chave é 3f2a9c10 7b4e 4d21 9a0f 5c6e7d8b9a01",
        "a chave é 3F2A9C10-7B4E 4D21 - 9A0F 5C6E7D8B9A01",
        "pix pra 3f2a9c10  7b4e-4d21 9a0f-5c6e7d8b9a01",
        "a chave aleatória 3f2a9c107b4e4d219a0f5c6e7d8b9a01",
        "vou mandar pro pix: 3f2a9c10 7b4e 4d21 9a0f 5c6e7d8b9a01.",
    ],
)
def test_loose_random_key_after_a_keyword(said: str) -> None:
    text, entities = _run(said)
    assert entities == [("pix_key", KEY, KEY)]
    assert KEY in text


@pytest.mark.parametrize(
    "said",
    [
        "o protocolo é 3f2a9c10 7b4e 4d21 9a0f 5c6e7d8b9a01",  # no keyword
        "chave um dois três quatro cinco 3f2a9c10 7b4e 4d21 9a0f 5c6e7d8b9a01",  # too far
        "chave 3f2a9c107b4e4d219a0f5c6e7d8b9a0",  # 31 characters
        "chave 3f2a9c1 07b4e 4d21 9a0f 5c6e7d8b9a01",  # not the 8-4-4-4-12 groups
    ],
)
def test_what_is_not_a_loose_random_key(said: str) -> None:
    assert all(kind != "pix_key" for kind, _, _ in _run(said)[1])


def test_canonical_random_key_needs_no_keyword() -> None:
    assert _run(f"o código {KEY} chegou") == (f"o código {KEY} chegou", [("pix_key", KEY, KEY)])


_SEPARATORS = ["", " ", "-", " - ", "  ", "- "]


@settings(max_examples=200, deadline=None)
@given(
    key=st.uuids(version=4).map(str),
    seps=st.lists(st.sampled_from(_SEPARATORS), min_size=4, max_size=4),
    upper=st.booleans(),
    keyword=st.sampled_from(["minha chave pix é", "chave aleatória:", "o pix é pra"]),
)
def test_any_random_key_written_any_way(
    key: str, seps: list[str], upper: bool, keyword: str
) -> None:
    groups = key.split("-")
    loose = groups[0] + "".join(s + g for s, g in zip(seps, groups[1:], strict=True))
    loose = loose.upper() if upper else loose
    text, entities = _run(f"{keyword} {loose} obrigado")
    assert entities == [("pix_key", key, key)]
    assert text.endswith(f" {key} obrigado")
    assert str(uuid.UUID(entities[0][2])) == key


# ---- e-mail local part ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "written"),
    [
        ("manda pra pedro lima ponto silva arroba gmail ponto com",
         "manda pra pedro lima.silva@gmail.com"),
        ("é o ana2024 arroba hotmail ponto com", "é o ana2024@hotmail.com"),
        ("o email é carlos_souza arroba empresa.com.br", "o email é carlos_souza@empresa.com.br"),
        ("joana hífen prado underline 7 arroba uol ponto com ponto br",
         "joana-prado_7@uol.com.br"),
        ("escreve bia @ gmail.com", "escreve bia@gmail.com"),
    ],
)  # fmt: skip
def test_email_local_part(said: str, written: str) -> None:
    assert _run(said)[0] == written


def test_option_switches_still_apply_to_new_forms() -> None:
    text = "2 mil reais e a chave 3f2a9c10 7b4e 4d21 9a0f 5c6e7d8b9a01"
    assert PP.process(text, PostprocessOptions(entities=False)).text == (
        "2.000 reais e a chave 3f2a9c10 7b4e 4d21 9a0f 5c6e7d8b9a01"
    )
