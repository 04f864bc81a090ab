from __future__ import annotations

import json
import re
from collections.abc import Sequence

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from mediaserver.domain import checks
from mediaserver.domain.document import Edit
from mediaserver.domain.pipeline import Entity, PostprocessOptions, Postprocessor
from mediaserver.observability import Metrics

from .speech import big_cardinal, cardinal, spoken_digits

PP = Postprocessor()


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("meu cpf é nove oito sete seis cinco quatro três dois um zero zero",
         "meu CPF é 987.654.321-00"),
        ("CPF cento e onze, duzentos e vinte e dois, trezentos e trinta e três, noventa e seis",
         "CPF 111.222.333-96"),
        ("o cnpj é um um dois dois dois três três três zero zero zero um oito um",
         "o CNPJ é 11.222.333/0001-81"),
        ("meu celular é vinte e um nove nove oito oito sete sete seis seis cinco",
         "meu celular é (21) 99887-7665"),
        ("o total foi trezentos reais e dez centavos", "o total foi R$ 300,10"),
        ("o email é ana ponto lima arroba banco ponto com ponto br",
         "o email é ana.lima@banco.com.br"),
        ("juros de dois vírgula cinco por cento", "juros de 2,5%"),
    ],
)  # fmt: skip
def test_public_examples(spoken: str, written: str) -> None:
    assert PP.process(spoken).text == written


def test_public_hot_word_example() -> None:
    pytest.importorskip("mediaserver.domain.hotwords")
    result = PP.process("fiz um pics pro meu irmão", PostprocessOptions(hot_words=("PIX",)))
    assert result.text == "fiz um PIX pro meu irmão"
    assert result.hot_word_hits == 1


def test_record_shape_and_offsets() -> None:
    result = PP.process("ok, cpf 529 982 247 25 e cep 70040900")
    assert result.raw_text == "ok, cpf 529 982 247 25 e cep 70040900"
    assert result.text == "ok, CPF 529.982.247-25 e CEP 70040-900"
    assert [e.to_dict() for e in result.entities] == [
        {"type": "cpf", "text": "529.982.247-25", "value": "52998224725", "valid": True,
         "start": 8, "end": 22},
        {"type": "cep", "text": "70040-900", "value": "70040900", "valid": True,
         "start": 29, "end": 38},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "written"),
    [
        (PostprocessOptions(), "CPF 529.982.247-25, 3 vezes, R$ 12,00"),
        (PostprocessOptions(itn=False), "CPF 529.982.247-25, três vezes, R$ 12,00"),
        (PostprocessOptions(entities=False), "cpf 52998224725, 3 vezes, 12 reais"),
        (PostprocessOptions(itn=False, entities=False), "cpf cinco dois nove nove oito dois "
         "dois quatro sete dois cinco, três vezes, doze reais"),
        (PostprocessOptions(redact=True), "CPF ***.***.***-25, 3 vezes, R$ 12,00"),
    ],
)  # fmt: skip
def test_stages_are_switchable(options: PostprocessOptions, written: str) -> None:
    text = "cpf cinco dois nove nove oito dois dois quatro sete dois cinco, três vezes, doze reais"
    assert PP.process(text, options).text == written


def test_redacted_records_do_not_leak() -> None:
    result = PP.process(
        "cpf 52998224725 cartão 5555555555554444 celular 11 98765 4321",
        PostprocessOptions(redact=True),
    )
    assert result.text == "CPF ***.***.***-25 cartão **** **** **** 4444 celular (**) *****-**21"
    for ent in result.entities:
        visible = 4 if ent.type == "card" else 2
        assert len(re.findall(r"\d", ent.value)) == len(re.findall(r"\d", ent.text)) == visible
        assert result.text[ent.start : ent.end] == ent.text


@pytest.mark.parametrize("word", ["cpf", "Cnpj", "pix", "cep", "ted", "Doc"])
def test_acronyms_are_upper_case(word: str) -> None:
    assert PP.process(f"fiz um {word} ontem").text == f"fiz um {word.upper()} ontem"


# ---- properties -----------------------------------------------------------------------------

_digit = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def valid_cpf(draw: st.DrawFn) -> str:
    first9 = draw(st.text(alphabet="0123456789", min_size=9, max_size=9).filter(
        lambda s: len(set(s)) > 1))  # fmt: skip
    return first9 + checks.cpf_check_digits(first9)


@st.composite
def valid_cnpj(draw: st.DrawFn, letters: bool) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" if letters else "0123456789"
    first12 = draw(st.text(alphabet=alphabet, min_size=12, max_size=12).filter(
        lambda s: len(set(s)) > 1))  # fmt: skip
    return first12 + checks.cnpj_check_digits(first12)


@st.composite
def mobile(draw: st.DrawFn) -> str:
    ddd = draw(st.sampled_from(sorted(checks.DDDS)))
    rest = draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    return f"{ddd}9{rest}"


@settings(max_examples=300, deadline=None)
@given(data=st.data(), cpf=valid_cpf())
def test_any_spoken_cpf_is_recovered(data: st.DataObject, cpf: str) -> None:
    spoken = data.draw(spoken_digits(cpf))
    keyword = data.draw(st.sampled_from(["o meu cpf é ", "CPF: ", ""]))
    result = PP.process(f"{keyword}{spoken} obrigado")
    expected = f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"
    assert [(e.type, e.text, e.value, e.valid) for e in result.entities] == [
        ("cpf", expected, cpf, True)
    ]
    assert result.text.endswith(f"{expected} obrigado")


@settings(max_examples=200, deadline=None)
@given(data=st.data(), cnpj=valid_cnpj(letters=False))
def test_any_spoken_cnpj_is_recovered(data: st.DataObject, cnpj: str) -> None:
    spoken = data.draw(spoken_digits(cnpj))
    result = PP.process(f"o cnpj é {spoken}")
    expected = f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
    assert result.text == f"o CNPJ é {expected}"
    assert [(e.type, e.value, e.valid) for e in result.entities] == [("cnpj", cnpj, True)]


@settings(max_examples=200, deadline=None)
@given(cnpj=valid_cnpj(letters=True), sep=st.sampled_from(["", " "]))
@example(cnpj="UMA00000000005", sep=" ")  # a capitals group that is also a number word
@example(cnpj="UMA00000000005", sep="")
def test_any_written_alphanumeric_cnpj_is_recovered(cnpj: str, sep: str) -> None:
    # `00 000 CPF 0000 96`, spaced out, is ambiguous: `CPF` is read as the keyword there.
    assume(not sep or not any(k in cnpj for k in ("CPF", "CNPJ", "CEP", "PIX", "ZAP")))
    written = f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
    said = written.replace(".", sep).replace("/", sep).replace("-", sep) if sep else written
    result = PP.process(f"cnpj {said}")
    assert result.text == f"CNPJ {written}"
    assert [(e.type, e.value) for e in result.entities] == [("cnpj", cnpj)]


@st.composite
def landline(draw: st.DrawFn) -> str:
    ddd = draw(st.sampled_from(sorted(checks.DDDS)))
    first = draw(st.sampled_from("2345"))
    return f"{ddd}{first}{draw(st.text(alphabet='0123456789', min_size=7, max_size=7))}"


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    phone=st.one_of(mobile(), landline()),
    keyword=st.sampled_from(["meu celular é", "telefone", "zap:", "o contato é o"]),
)
def test_any_spoken_phone_is_recovered(data: st.DataObject, phone: str, keyword: str) -> None:
    spoken = data.draw(spoken_digits(phone))
    result = PP.process(f"{keyword} {spoken}")
    expected = f"({phone[:2]}) {phone[2:-4]}-{phone[-4:]}"
    assert result.text == f"{keyword} {expected}"
    assert [(e.type, e.value) for e in result.entities] == [("phone", phone)]


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    phone=mobile(),
    prefix=st.sampled_from(["+55 ", "mais cinquenta e cinco ", "+55"]),
)
def test_any_international_phone_is_recovered(data: st.DataObject, phone: str, prefix: str) -> None:
    spoken = data.draw(spoken_digits(phone))
    if prefix == "+55" and not spoken[0].isdigit():
        prefix = "+55 "
    result = PP.process(f"ligue {prefix}{spoken}")
    assert result.text == f"ligue +55 ({phone[:2]}) {phone[2:7]}-{phone[7:]}"
    assert [(e.type, e.value) for e in result.entities] == [("phone", "55" + phone)]


def _grouped(n: int) -> str:
    return str(n) if n < 10000 else f"{n:,}".replace(",", ".")


@given(st.integers(0, 999_999).filter(lambda n: n not in (1, 2)))
def test_any_spoken_cardinal_becomes_digits(n: int) -> None:
    assert PP.process(f"são {big_cardinal(n)} clientes").text == f"são {_grouped(n)} clientes"


@given(st.integers(0, 999_999), st.integers(1, 99))
def test_any_spoken_amount_becomes_money(reais: int, cents: int) -> None:
    unit = "real" if reais == 1 else "reais"
    spoken = f"{big_cardinal(reais)} {unit} e {cardinal(cents)} centavos"
    text = f"{reais:,}".replace(",", ".")
    result = PP.process(f"paguei {spoken} ontem")
    assert result.text == f"paguei R$ {text},{cents:02d} ontem"
    assert [e.value for e in result.entities] == [f"{reais}.{cents:02d}"]


_ORDINARY = ["olá", "Bom", "dia", "conta", "banco", "quero", "saber", "meu", "saldo", "hoje",
             "Itaú", "transferência", "por", "favor", "obrigado", "sim", "não", "cartão", "fatura",
             "é", "o", "a", "de", "para", "cento", "hora", "números", "reais",
             "ponto"]  # fmt: skip
_PUNCT = ["", ",", ".", "?", "!"]


@st.composite
def plain_sentence(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(_ORDINARY), min_size=1, max_size=20))
    return " ".join(w + draw(st.sampled_from(_PUNCT)) for w in words)


@given(plain_sentence())
def test_text_without_numbers_or_entities_is_unchanged(text: str) -> None:
    result = PP.process(text)
    assert (result.text, result.entities) == (text, [])


_NUMBER_WORDS = [cardinal(n) for n in (1, 2, 3, 7, 10, 15, 21, 99, 100, 345)]


@given(st.lists(st.one_of(st.sampled_from(_ORDINARY), st.sampled_from(_NUMBER_WORDS)), max_size=25))
def test_nothing_is_dropped(words: list[str]) -> None:
    text = " ".join(words)
    for options, absorbed in [
        (PostprocessOptions(entities=False), {"por", "cento"}),  # `por cento` is ITN's `%`
        (PostprocessOptions(), {"reais", "ponto", "por", "cento"}),  # parts of an entity or `%`
    ]:
        out = PP.process(text, options).text.split()
        ordinary = [w for w in words if w in _ORDINARY and w not in absorbed]
        it = iter(out)
        assert all(any(w == o for o in it) for w in ordinary), (text, out)


def test_entity_records_are_json_ready() -> None:
    (ent,) = PP.process("cep 70040900").entities
    assert isinstance(ent, Entity)
    assert json.loads(json.dumps(ent.to_dict())) == ent.to_dict()


class _UpperCorrector:
    """A stand-in with the hot-word corrector's interface: writes configured words in caps."""

    def __init__(self, hot_words: tuple[str, ...]) -> None:
        self.words = {w.lower(): w for w in hot_words}

    def replacements(self, text: str, protected: Sequence[tuple[int, int]] = ()) -> list[Edit]:
        edits = []
        for m in re.finditer(r"\S+", text):
            fixed = self.words.get(m.group().lower(), m.group())
            inside = any(s < m.end() and m.start() < e for s, e in protected)
            if fixed != m.group() and not inside:
                edits.append(Edit(m.start(), m.end(), fixed, rule="upper"))
        return edits


def test_hot_words_run_between_entities_and_offsets_follow() -> None:
    metrics = Metrics()
    pp = Postprocessor(hot_word_hits=metrics.hot_word_hits, corrector_factory=_UpperCorrector)
    text = "o bradescard do cpf 52998224725 e bradescard de novo, cep 70040900 bradescard"
    result = pp.process(text, PostprocessOptions(hot_words=("BRADESCARD",)))
    assert result.text == (
        "o BRADESCARD do CPF 529.982.247-25 e BRADESCARD de novo, CEP 70040-900 BRADESCARD"
    )
    assert result.hot_word_hits == 3
    assert [result.text[e.start : e.end] for e in result.entities] == [
        "529.982.247-25", "70040-900"
    ]  # fmt: skip
    assert metrics.registry.get_sample_value("mediaserver_hot_word_hits_total") == 3


def test_correctors_are_built_once_per_hot_word_list() -> None:
    built: list[tuple[str, ...]] = []

    def factory(words: tuple[str, ...]) -> _UpperCorrector:
        built.append(words)
        return _UpperCorrector(words)

    pp = Postprocessor(corrector_factory=factory, correctors=1)
    for words in [("A1",), ("A1",), ("B2",), ("A1",)]:
        pp.process("x", PostprocessOptions(hot_words=words))
    assert built == [("A1",), ("B2",), ("A1",)]
    assert pp.process("x y", PostprocessOptions()).hot_word_hits == 0


_VOCAB = [*_ORDINARY, *_NUMBER_WORDS, "mil", "milhões", "e", "vírgula", "por", "cento", "meia",
          "zero", "nove", "ponto", "traço", "barra", "menos", "arroba", "R$", "reais", "real",
          "centavos", "de", "cpf", "CNPJ", "cep", "celular", "mais", "+", "+55", "(11)", "-",
          "/", ".", ",", "12", "1.500", "89,90", "0001", "AB", "x9", "_", "@"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(_VOCAB), max_size=30).map(" ".join),
        st.lists(st.sampled_from(_VOCAB), max_size=30).map("".join),
        st.text(max_size=80),
    ),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_any_input_gives_a_result_with_consistent_records(
    text: str, itn: bool, entities: bool, redact: bool
) -> None:
    result = PP.process(text, PostprocessOptions(itn=itn, entities=entities, redact=redact))
    assert result.raw_text == text
    ends = [0]
    for ent in result.entities:
        assert result.text[ent.start : ent.end] == ent.text
        assert ent.start >= ends[-1]
        ends.append(ent.end)
    if not (itn or entities or redact):
        assert result.text == text
