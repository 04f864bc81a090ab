"""The pt-BR phonetic key: spellings said alike meet, spellings said differently stay apart."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz

from mediaserver.domain.phonetic import phonetic_key

SOUND_ALIKE = [
    # rule 5: final x is /ks/, and c before a consonant is /k/
    ("pics", "PIX"),
    ("pix", "piks"),
    ("picks", "pix"),
    # rule 1: accents fold, case does not matter
    ("Itaú", "itau"),
    ("CÉLIC", "selic"),
    # rule 2: digraphs and silent h
    ("chave", "xave"),
    ("caicha", "Caixa"),
    ("filho", "filio"),
    ("ninho", "ninio"),
    ("pharmácia", "farmácia"),
    ("hora", "ora"),
    # rule 3: sibilants
    ("farmácia", "farmassia"),
    ("passa", "paça"),
    ("desço", "desso"),
    ("nascer", "nasser"),
    ("casa", "caza"),
    ("paz", "pas"),
    # rule 4: velars
    ("gente", "jente"),
    ("queijo", "keijo"),
    ("quando", "cuando"),
    ("guerra", "guera"),
    # rule 5: other x
    ("exame", "ezame"),
    ("texto", "testo"),
    # rule 6
    ("Wagner", "vagner"),
    ("Yara", "iara"),
    ("Brasil", "brasiu"),
    ("bem", "ben"),
    ("PicPay", "picpei"),
    # rule 7: final vowels and the epenthetic i
    ("Selic", "selique"),
    ("DOC", "dóqui"),
    ("TED", "tedi"),
    ("pacote", "pacoti"),
    ("carros", "carrus"),
    # rule 8
    ("carro", "caro"),
]

SOUND_DIFFERENT = [
    ("peixe", "PIX"),  # the x of peixe is /ʃ/, the x of PIX is /ks/
    ("teste", "TED"),
    ("doce", "DOC"),  # c before e is /s/
    ("caça", "casa"),  # ç stays /s/ between vowels, s voices to /z/
    ("guerra", "gera"),  # gu keeps the g hard, g before e is /ʒ/
    ("baixa", "Caixa"),
    ("pato", "bato"),
    ("gato", "jato"),
    ("tia", "dia"),
    ("Selic", "seleção"),
]

KEYS = [
    ("pix", "piks"),
    ("peixe", "peixi"),
    ("Brasil", "braziu"),
    ("gente", "jenti"),
    ("Selic", "seliki"),
    ("exame", "ezami"),
    ("texto", "testu"),
    ("guerra", "gera"),
    ("chave", "xavi"),
    ("doce", "dosi"),
    ("transação", "transasau"),
    ("Nubank", "nubanki"),
    ("", ""),
    ("123", ""),
    ("-", ""),
]


@pytest.mark.parametrize(("left", "right"), SOUND_ALIKE)
def test_words_said_alike_share_a_key(left: str, right: str) -> None:
    assert phonetic_key(left) == phonetic_key(right)


@pytest.mark.parametrize(("left", "right"), SOUND_DIFFERENT)
def test_words_said_differently_have_different_keys(left: str, right: str) -> None:
    assert phonetic_key(left) != phonetic_key(right)


@pytest.mark.parametrize(("word", "key"), KEYS)
def test_key_follows_the_documented_rules(word: str, key: str) -> None:
    assert phonetic_key(word) == key


def test_a_dropped_sibilant_keeps_the_keys_close() -> None:
    assert phonetic_key("bradeco") != phonetic_key("Bradesco")
    assert fuzz.ratio(phonetic_key("bradeco"), phonetic_key("Bradesco")) >= 90


_LETTERS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzáàâãéêíóôõúüç", max_size=20)


@given(_LETTERS)
def test_key_is_lower_case_ascii_without_repeats(word: str) -> None:
    key = phonetic_key(word)
    assert all("a" <= ch <= "z" for ch in key)
    assert all(a != b for a, b in itertools.pairwise(key))


@given(_LETTERS)
def test_key_ignores_case(word: str) -> None:
    assert phonetic_key(word.upper()) == phonetic_key(word)


@given(_LETTERS, st.text(alphabet=" -.,'0123456789", max_size=5))
def test_key_ignores_anything_but_letters(word: str, noise: str) -> None:
    assert phonetic_key(noise + word + noise) == phonetic_key(word)
