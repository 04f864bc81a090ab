from __future__ import annotations

import pytest

from mediaserver.domain.document import Edit
from mediaserver.domain.redaction import mask, redact


@pytest.mark.parametrize(
    ("kind", "text", "value", "masked", "masked_value"),
    [
        ("cpf", "529.982.247-25", "52998224725", "***.***.***-25", "*********25"),
        ("cnpj", "12.ABC.345/01DE-35", "12ABC34501DE35", "**.***.***/****-35", "************35"),
        ("phone", "(47) 99123-4567", "47991234567", "(**) *****-**67", "*********67"),
        ("phone", "+55 (19) 3456-7890", "551934567890", "+55 (**) ****-**90", "**********90"),
        ("card", "5555 5555 5555 4444", "5555555555554444", "**** **** **** 4444",
         "************4444"),
    ],
)  # fmt: skip
def test_redact_keeps_only_the_last_digits(
    kind: str, text: str, value: str, masked: str, masked_value: str
) -> None:
    out = redact(Edit(3, 9, text, kind, value, True))
    assert (out.text, out.value, out.start, out.end) == (masked, masked_value, 3, 9)


@pytest.mark.parametrize("kind", ["money", "email", "cep", None])
def test_other_edits_are_not_masked(kind: str | None) -> None:
    edit = Edit(0, 4, "R$ 1,00", kind, "1.00")
    assert redact(edit) == edit


def test_mask_keeps_the_layout() -> None:
    assert mask("12-34", 1) == "**-*4"
    assert mask("12", 5) == "12"
