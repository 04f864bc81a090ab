from __future__ import annotations

import pytest

from mediaserver.domain.document import Document, Entity
from mediaserver.domain.identifiers import find_identifiers
from mediaserver.domain.itn import apply_itn


def run(text: str) -> tuple[str, list[Entity]]:
    doc = Document(text)
    find_identifiers(doc)
    apply_itn(doc)
    return doc.render()


@pytest.mark.parametrize(
    ("spoken", "written", "kind", "value", "valid"),
    [
        # CPF: one by one, cardinal groups, leading-zero group, written, mixed, separators
        ("cpf cinco dois nove nove oito dois dois quatro sete dois cinco", "cpf 529.982.247-25",
         "cpf", "52998224725", True),
        ("o cpf dele é quinhentos e vinte e nove novecentos e oitenta e dois duzentos e quarenta "
         "e sete vinte e cinco", "o cpf dele é 529.982.247-25", "cpf", "52998224725", True),
        ("cpf trezentos e noventa e cinquenta e três trezentos e quarenta e quatro sete zero "
         "cinco", "cpf 390 e 53 344 705", None, None, None),
        ("cpf trezentos e noventa, zero cinco três, trezentos e quarenta e quatro, setenta e "
         "cinco", "cpf 390.053.344-75", "cpf", "39005334475", False),
        ("cpf 111 444 777 trinta e cinco", "cpf 111.444.777-35", "cpf", "11144477735", True),
        ("cpf 111 ponto 444 ponto 777 traço 35", "cpf 111.444.777-35", "cpf", "11144477735", True),
        ("cpf 111.444.777-35", "cpf 111.444.777-35", "cpf", "11144477735", True),
        # keyword + wrong check digits: formatted, valid false; no keyword: only valid ones
        ("meu cpf é 111.444.777-53", "meu cpf é 111.444.777-53", "cpf", "11144477753", False),
        ("número 11144477735", "número 111.444.777-35", "cpf", "11144477735", True),
        ("número 11144477753", "número 11144477753", None, None, None),
        # CNPJ, numeric and alphanumeric
        ("cnpj zero quatro dois cinco dois zero um um zero zero zero um um zero",
         "cnpj 04.252.011/0001-10", "cnpj", "04252011000110", True),
        ("o cnpj é 11.444.777/0001-62", "o cnpj é 11.444.777/0001-62", "cnpj", "11444777000162",
         False),
        ("empresa 11444777000161", "empresa 11.444.777/0001-61", "cnpj", "11444777000161", True),
        ("cnpj 12.ABC.345/01DE-35", "cnpj 12.ABC.345/01DE-35", "cnpj", "12ABC34501DE35", True),
        ("cnpj 12 ABC 345 01DE 35", "cnpj 12.ABC.345/01DE-35", "cnpj", "12ABC34501DE35", True),
        # phones: keyword or +55 needed; DDD; mobile has 9 as third digit
        ("meu whatsapp é quarenta e sete nove nove um dois três quatro cinco seis sete",
         "meu whatsapp é (47) 99123-4567", "phone", "47991234567", True),
        ("telefone oitenta e cinco três dois um zero, nove oito sete seis",
         "telefone (85) 3210-9876", "phone", "8532109876", True),
        ("zap 31 9 8888 7777", "zap (31) 98888-7777", "phone", "31988887777", True),
        ("+55 19 3456-7890", "+55 (19) 3456-7890", "phone", "551934567890", True),
        ("ligue mais cinquenta e cinco sessenta e um nove oito oito sete seis cinco quatro três "
         "dois", "ligue +55 (61) 98876-5432", "phone", "5561988765432", True),
        ("contato (62) 3333-1212", "contato (62) 3333-1212", "phone", "6233331212", True),
        ("liga pra 47991234567", "liga pra 47991234567", None, None, None),
        ("telefone 20 99123 4567", "telefone 20 99123 4567", None, None, None),
        # card: Luhn, no keyword needed
        ("cartão 5555 5555 5555 4444", "cartão 5555 5555 5555 4444", "card", "5555555555554444",
         True),
        ("cinco cinco cinco cinco, 5555, cinco cinco cinco cinco, quatro quatro quatro quatro",
         "5555 5555 5555 4444", "card", "5555555555554444", True),
        ("código 5555555555554445", "código 5555555555554445", None, None, None),
        # CEP only with its keyword
        ("cep sete zero zero quatro zero nove zero zero", "cep 70040-900", "cep", "70040900", True),
        ("cep 70040-900", "cep 70040-900", "cep", "70040900", True),
        ("lote 70040900", "lote 70040900", None, None, None),
    ],
)  # fmt: skip
def test_entities(
    spoken: str, written: str, kind: str | None, value: str | None, valid: bool | None
) -> None:
    text, entities = run(spoken)
    assert text == written
    if kind is None:
        assert entities == []
        return
    (ent,) = entities
    assert (ent.type, ent.value, ent.valid) == (kind, value, valid)
    assert text[ent.start : ent.end] == ent.text


def test_keyword_must_be_within_four_words() -> None:
    assert run("cep é o que eu vou te dizer 70040900")[1] == []
    assert run("o cep que eu uso 70040900")[1][0].type == "cep"


def test_phone_keyword_beats_a_valid_cpf() -> None:
    # 11144477735 is a valid CPF, but it is said after `celular` and has a phone's shape.
    text, (ent,) = run("celular 11 94447 7735")
    assert (ent.type, text) == ("phone", "celular (11) 94447-7735")


def test_several_entities_and_the_words_around_them() -> None:
    text, ents = run("cpf 52998224725, telefone 11 3456 7890 e 12 gatos")
    assert text == "cpf 529.982.247-25, telefone (11) 3456-7890 e 12 gatos"
    assert [e.type for e in ents] == ["cpf", "phone"]
    assert all(text[e.start : e.end] == e.text for e in ents)


def test_extra_digits_are_left_to_itn() -> None:
    assert run("cpf 52998224725 e três")[0] == "cpf 529.982.247-25 e 3"
