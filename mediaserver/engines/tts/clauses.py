"""Split text into clauses, the unit TTS engines synthesize and stream.

Neither engine streams inside one call (Kokoro renders a whole utterance at once; espeak-ng
is only asked for one clause at a time so a lock is never held for long), so the first audio
arrives after the first clause. Sentences always end a clause; a comma, semicolon or colon
ends one only once it holds `min_chars`, so "Olá, tudo bem?" stays one natural phrase while a
long enumeration still streams. A clause longer than `max_chars` (Kokoro reads at most 510
phonemes) is cut at the last space before the limit.
"""

from __future__ import annotations

import re
from typing import Final

MIN_CHARS: Final = 24
MAX_CHARS: Final = 200

# A boundary is whitespace after punctuation (so "1,5" and "R$1.000" never split) or a newline.
_PIECES: Final = re.compile(r"(?<=[.!?…;:,])\s+|\s*\n\s*")
_STRONG: Final = tuple(".!?…")
_WEAK: Final = tuple(",;:")


def split_clauses(text: str, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> list[str]:
    """The clauses of `text`, in order, none empty; joined with spaces they give its words back."""
    if min_chars < 0 or max_chars < 1:
        raise ValueError(f"need min_chars >= 0 and max_chars >= 1, got {min_chars}, {max_chars}")
    clauses: list[str] = []
    current = ""
    for match_end, piece in _pieces(text):
        current = f"{current} {piece}" if current else piece
        strong = piece.endswith(_STRONG) or match_end == "\n"
        if strong or (piece.endswith(_WEAK) and len(current) >= min_chars):
            clauses.append(current)
            current = ""
    if current:
        clauses.append(current)
    return [part for clause in clauses for part in _cut(clause, max_chars)]


def _pieces(text: str) -> list[tuple[str, str]]:
    """(what ended it: "\\n", " " or "", piece) for each non-empty piece."""
    out: list[tuple[str, str]] = []
    start = 0
    for match in _PIECES.finditer(text):
        piece = text[start : match.start()].strip()
        if piece:
            out.append(("\n" if "\n" in match.group() else " ", piece))
        start = match.end()
    tail = text[start:].strip()
    if tail:
        out.append(("", tail))
    return out


def _cut(clause: str, max_chars: int) -> list[str]:
    parts: list[str] = []
    while len(clause) > max_chars:
        space = clause.rfind(" ", 1, max_chars + 1)
        cut = space if space > 0 else max_chars
        parts.append(clause[:cut].strip())
        clause = clause[cut:].strip()
    if clause:
        parts.append(clause)
    return parts
