"""Whisper's tokens to text that is always valid UTF-8.

Whisper's vocabulary is byte-level BPE: a token is a run of bytes, not of characters, so one
accented letter or emoji may be split over two tokens, and a segment boundary (or a decoder
that wanders on bad audio) may leave half a character at the end of a segment or a byte run
that is no character at all. faster-whisper decodes each segment on its own and the tokenizer
puts U+FFFD in both places. Here the bytes of consecutive segments are joined as one stream:
a character split across a boundary goes to the segment where it ends, and bytes that never
form a character are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

_EOT = "<|endoftext|>"


@cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: the printable character standing for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


class TokenBytes:
    """The bytes each text token of a `tokenizers.Tokenizer` stands for (timestamps, language
    and other special tokens, all at or after <|endoftext|>, stand for none)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        eot = tokenizer.token_to_id(_EOT)
        self._eot: int = eot if eot is not None else 1 << 31
        self._cache: dict[int, bytes] = {}

    def __call__(self, tokens: Sequence[int]) -> bytes:
        return b"".join(self._one(t) for t in tokens if t < self._eot)

    def _one(self, token: int) -> bytes:
        found = self._cache.get(token)
        if found is None:
            piece = self._tokenizer.id_to_token(token) or ""
            table = _byte_decoder()
            if all(ch in table for ch in piece):
                found = bytes(table[ch] for ch in piece)
            else:  # an added token spelled in plain text
                found = piece.encode("utf-8")
            self._cache[token] = found
        return found


def complete_prefix(data: bytes) -> int:
    """Length of the longest prefix of `data` that does not end inside a UTF-8 character."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)  # ASCII: nothing pending
        if byte >= 0xC0:  # a lead byte: is its character complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)  # continuation bytes with no lead in reach: invalid, decoding drops them


class SegmentTexts:
    """Texts of consecutive segments of one decode: `texts(tokens) -> str`, in order."""

    def __init__(self, token_bytes: TokenBytes) -> None:
        self._token_bytes = token_bytes
        self._pending = b""

    def __call__(self, tokens: Sequence[int]) -> str:
        data = self._pending + self._token_bytes(tokens)
        cut = complete_prefix(data)
        self._pending = data[cut:]
        return data[:cut].decode("utf-8", errors="ignore")


def segment_texts(token_bytes: TokenBytes, segments: Sequence[Sequence[int]]) -> list[str]:
    """The text of each segment (its token ids in order), every one valid UTF-8."""
    texts = SegmentTexts(token_bytes)
    return [texts(tokens) for tokens in segments]
