"""E-mail addresses, spoken with `arroba` or already written."""

from __future__ import annotations

import re
import unicodedata

from mediaserver.domain.document import Document, Edit

_WRITTEN_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
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
    """Addresses the recognizer already wrote: lower case, reported as entities."""
    for m in _WRITTEN_EMAIL.finditer(doc.text):
        value = m.group().lower()
        edit = Edit(m.start(), m.end(), value, "email", value, rule="email.written")
        doc.claim_span(m.start(), m.end(), edit)


def find_spoken(doc: Document) -> None:
    """`ana ponto lima arroba banco ponto com ponto br` -> `ana.lima@banco.com.br`."""
    tokens = doc.tokens
    for at, tok in enumerate(tokens):
        if tok.norm not in ("arroba", "@") or not doc.is_free(at, at + 1):
            continue
        first = _extend(doc, at, -1)
        stop = _extend(doc, at, +1)
        if first == at or stop == at + 1 or not doc.is_free(first, stop):
            continue
        address = "".join(
            "@" if i == at else _CONNECTORS.get(tokens[i].norm) or _plain(tokens[i].text)
            for i in range(first, stop)
        )
        start, end = tokens[first].start, tokens[stop - 1].end
        edit = Edit(start, end, address, "email", address, rule="email.spoken")
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

    A name is one word, or several written together (`joao123`). Only names joined by a
    connector belong to the address (§5): in `maria souza arroba ...` only `souza` does.
    Returns the first token index going left, the stop index going right; `at` (or at + 1)
    when there is no name at all.
    """
    i = at + step
    if not _is_name(doc, i, first=True):
        return at if step < 0 else at + 1
    i = _glued(doc, i, step)
    while _is_connector(doc, i + step) and _is_name(doc, i + 2 * step, first=False):
        i = _glued(doc, i + 2 * step, step)
    return i if step < 0 else i + 1


def _glued(doc: Document, i: int, step: int) -> int:
    """The last token of the name at i, going in `step`'s direction: letters and digits written
    together with no space or mark between them are one name."""
    tokens = doc.tokens
    while 0 <= i + step < len(tokens) and tokens[i + step].kind != "punct":
        a, b = (tokens[i], tokens[i + step]) if step > 0 else (tokens[i + step], tokens[i])
        if a.end != b.start:
            break
        i += step
    return i


def _is_connector(doc: Document, i: int) -> bool:
    return 0 <= i < len(doc.tokens) and doc.tokens[i].norm in _CONNECTORS
