"""E-mail addresses (spoken with `arroba` or already written) and random PIX keys (UUIDs)."""

from __future__ import annotations

import re
import unicodedata

from mediaserver.domain.document import Document, Edit

_WRITTEN_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_UUID = re.compile(
    r"(?<![0-9A-Za-z-])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}(?![0-9A-Za-z-])"
)
_CONNECTORS = {
    "ponto": ".", "underline": "_", "underscore": "_", "hífen": "-", "hifen": "-",
    "traço": "-", "traco": "-", ".": ".", "_": "_", "-": "-",
}  # fmt: skip
# Small words that end an address rather than continue it (`... ponto com e depois`).
_STOP = frozenset({"e", "é", "o", "a", "os", "as", "de", "do", "da", "que", "ou", "mas", "arroba"})


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def find_written(doc: Document) -> None:
    """Addresses and UUIDs the recognizer already wrote: lower case, reported as entities."""
    for pattern, kind in ((_WRITTEN_EMAIL, "email"), (_UUID, "pix")):
        for m in pattern.finditer(doc.text):
            value = m.group().lower()
            doc.claim_span(m.start(), m.end(), Edit(m.start(), m.end(), value, kind, value))


def find_spoken(doc: Document) -> None:
    """`ana ponto lima arroba banco ponto com ponto br` -> `ana.lima@banco.com.br`."""
    tokens = doc.tokens
    for at, tok in enumerate(tokens):
        if tok.norm != "arroba" or not doc.is_free(at, at + 1):
            continue
        first = _extend(doc, at, -1)
        stop = _extend(doc, at, +1)
        if first == at or stop == at + 1 or not doc.is_free(first, stop):
            continue
        address = "".join(
            "@" if i == at else _CONNECTORS.get(tokens[i].norm) or _plain(tokens[i].text)
            for i in range(first, stop)
        )
        edit = Edit(tokens[first].start, tokens[stop - 1].end, address, "email", address)
        doc.claim(first, stop, edit)


def _is_name(doc: Document, i: int, first: bool) -> bool:
    if not 0 <= i < len(doc.tokens):
        return False
    tok = doc.tokens[i]
    if tok.kind == "punct" or tok.norm in _CONNECTORS:
        return False
    return first or tok.norm not in _STOP


def _extend(doc: Document, at: int, step: int) -> int:
    """Index of the farthest name token joined to `arroba` by connectors, in one direction.

    Returns the first token index going left, the stop index going right; `at` (or at + 1)
    when there is no name at all.
    """
    i = at + step
    if not _is_name(doc, i, first=True):
        return at if step < 0 else at + 1
    while _is_connector(doc, i + step) and _is_name(doc, i + 2 * step, first=False):
        i += 2 * step
    return i if step < 0 else i + 1


def _is_connector(doc: Document, i: int) -> bool:
    return 0 <= i < len(doc.tokens) and doc.tokens[i].norm in _CONNECTORS
