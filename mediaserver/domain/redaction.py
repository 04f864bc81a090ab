"""Masking of personal data in formatted entities (POSTPROCESSING.md §4)."""

from __future__ import annotations

import dataclasses

from mediaserver.domain.document import Edit

# Entity type -> how many of its last digits stay visible.
KEEP_LAST = {"cpf": 2, "cnpj": 2, "phone": 2, "card": 4}


def mask(text: str, keep: int) -> str:
    """Replace every digit or letter with `*` except the last `keep` of them; layout stays."""
    total = sum(c.isalnum() for c in text)
    seen = 0
    out = []
    for c in text:
        if c.isalnum():
            seen += 1
            out.append(c if seen > total - keep else "*")
        else:
            out.append(c)
    return "".join(out)


def redact(edit: Edit) -> Edit:
    """The same edit with its text and value masked, when its type holds personal data."""
    keep = KEEP_LAST.get(edit.entity or "")
    if keep is None:
        return edit
    text = edit.text
    if edit.entity == "phone" and text.startswith("+55 "):
        text = "+55 " + mask(text[4:], keep)  # the country code is not personal
    else:
        text = mask(text, keep)
    return dataclasses.replace(edit, text=text, value=mask(edit.value, keep), redacted=True)
