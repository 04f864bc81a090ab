"""Check digits of Brazilian documents and cards, and the list of phone area codes (DDD)."""

from __future__ import annotations

# Area codes in use (Anatel); a phone number's first two digits must be one of them.
DDDS = frozenset(
    {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28}
    | set(range(31, 36)) | {37, 38} | set(range(41, 50)) | {51, 53, 54, 55}
    | set(range(61, 70)) | {71, 73, 74, 75, 77, 79} | set(range(81, 90)) | set(range(91, 100))
)  # fmt: skip


def _mod11_digit(values: list[int], weights: range | list[int]) -> int:
    rest = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return 0 if rest < 2 else 11 - rest


def cpf_check_digits(first9: str) -> str:
    """The two check digits of a CPF whose first nine digits are given."""
    values = [int(c) for c in first9]
    d1 = _mod11_digit(values, range(10, 1, -1))
    d2 = _mod11_digit([*values, d1], range(11, 1, -1))
    return f"{d1}{d2}"


def cpf_valid(digits: str) -> bool:
    return (
        len(digits) == 11
        and digits.isdigit()
        and len(set(digits)) > 1  # 000.000.000-00 and friends pass mod 11 but are not issued
        and cpf_check_digits(digits[:9]) == digits[9:]
    )


_CNPJ_W1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
_CNPJ_W2 = [6, *_CNPJ_W1]


def cnpj_check_digits(first12: str) -> str:
    """The two check digits of a CNPJ (numeric or alphanumeric: a character is worth ASCII - 48)."""
    values = [ord(c) - 48 for c in first12.upper()]
    d1 = _mod11_digit(values, _CNPJ_W1)
    d2 = _mod11_digit([*values, d1], _CNPJ_W2)
    return f"{d1}{d2}"


def is_cnpj_shape(chars: str) -> bool:
    """Fourteen characters: twelve digits or letters A-Z, then two digits."""
    head = chars[:12]
    return (
        len(chars) == 14
        and chars[12:].isdigit()
        and all(c.isdigit() or "A" <= c <= "Z" for c in head)
    )


def cnpj_valid(chars: str) -> bool:
    return (
        is_cnpj_shape(chars) and len(set(chars)) > 1 and cnpj_check_digits(chars[:12]) == chars[12:]
    )


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def phone_shape(digits: str) -> bool:
    """10 digits (landline) or 11 (mobile, third digit 9), starting with a DDD in use."""
    if not digits.isdigit() or len(digits) not in (10, 11) or int(digits[:2]) not in DDDS:
        return False
    if len(digits) == 11:
        return digits[2] == "9"
    return digits[2] != "0" and digits[2] != "1"
