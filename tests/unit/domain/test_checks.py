from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaserver.domain import checks


@pytest.mark.parametrize("cpf", ["52998224725", "11144477735", "39053344705"])
def test_known_valid_cpfs(cpf: str) -> None:
    assert checks.cpf_valid(cpf)


@pytest.mark.parametrize(
    "cpf",
    ["52998224724", "11144477753", "1114447773", "111444777350", "00000000000", "5299822472a"],
)
def test_invalid_cpfs(cpf: str) -> None:
    assert not checks.cpf_valid(cpf)


@pytest.mark.parametrize("cnpj", ["11444777000161", "04252011000110", "12ABC34501DE35"])
def test_known_valid_cnpjs(cnpj: str) -> None:
    assert checks.cnpj_valid(cnpj)


@pytest.mark.parametrize(
    "cnpj", ["11444777000162", "12ABC34501DE53", "12abc34501DE3", "AAAAAAAAAAAA00"]
)
def test_invalid_cnpjs(cnpj: str) -> None:
    assert not checks.cnpj_valid(cnpj)


def test_alphanumeric_cnpj_letters_are_worth_ascii_minus_48() -> None:
    # "A" is worth 17: replacing it by a character of another value changes the check digits.
    assert checks.cnpj_check_digits("12ABC34501DE") == "35"
    assert checks.cnpj_check_digits("12ABC34501DF") != "35"


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_a_wrong_check_digit_is_always_caught(first9: str) -> None:
    cpf = first9 + checks.cpf_check_digits(first9)
    if len(set(cpf)) > 1:
        assert checks.cpf_valid(cpf)
    for i in (9, 10):
        wrong = cpf[:i] + str((int(cpf[i]) + 1) % 10) + cpf[i + 1 :]
        assert not checks.cpf_valid(wrong)


@pytest.mark.parametrize(
    ("number", "ok"),
    [("4111111111111111", True), ("5555555555554444", True), ("4111111111111112", False),
     ("79927398713", True), ("79927398710", False), ("4111 1111", False)],
)  # fmt: skip
def test_luhn(number: str, ok: bool) -> None:
    assert checks.luhn_valid(number) is ok


@pytest.mark.parametrize(
    ("digits", "ok"),
    [("21998877665", True), ("1133334444", True), ("11833334444", False), ("20987654321", False),
     ("1103334444", False), ("119876543", False), ("619876543210", False)],
)  # fmt: skip
def test_phone_shape(digits: str, ok: bool) -> None:
    assert checks.phone_shape(digits) is ok
