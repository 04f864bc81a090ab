"""Random PIX keys (UUIDs): the canonical lower-case `8-4-4-4-12` form, however written.

A key already written with hyphens in the `8-4-4-4-12` groups is recognised anywhere, in any
case (§2). Recognisers also write it loosely (§5): groups separated by spaces, hyphens or a
mix, or no separator at all. Those forms are taken only after a PIX keyword within the 4 words
before, because 32 hexadecimal characters can be something else (a protocol, a hash).
"""

from __future__ import annotations

import re

from mediaserver.domain.document import Document, Edit

KEYWORDS = frozenset({"chave", "pix", "aleatória", "aleatoria"})
KEYWORD_WINDOW = 4

_HEX = "[0-9a-fA-F]"
# Between groups: nothing, or spaces and at most one hyphen (or dash a recogniser may write).
_SEP = r"(?:[ \t]*[-‐–][ \t]*|[ \t]+)?"
_KEY = re.compile(
    rf"(?<![0-9A-Za-z-])({_HEX}{{8}}){_SEP}({_HEX}{{4}}){_SEP}({_HEX}{{4}}){_SEP}"
    rf"({_HEX}{{4}}){_SEP}({_HEX}{{12}})(?![0-9A-Za-z-])"
)


def find_pix_keys(doc: Document) -> None:
    """Format every random PIX key in the text and report it as a `pix_key` entity."""
    if len(doc.text) < 32:  # the common short segment: no key can fit
        return
    for m in _KEY.finditer(doc.text):
        key = "-".join(m.groups()).lower()
        written = m.group()
        canonical = written.lower() == key
        if not canonical and not _keyword_before(doc, m.start()):
            continue
        rule = "pix_key" if canonical else "pix_key.loose"
        doc.claim_span(m.start(), m.end(), Edit(m.start(), m.end(), key, "pix_key", key, rule=rule))


def _keyword_before(doc: Document, start: int) -> bool:
    words = [t.norm for t in doc.tokens if t.end <= start and t.kind != "punct"]
    return not KEYWORDS.isdisjoint(words[-KEYWORD_WINDOW:])
