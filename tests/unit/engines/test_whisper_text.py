"""Whisper's byte-level tokens to text: a character split across segments is never U+FFFD."""

from __future__ import annotations

from mediaserver.engines.stt.whisper_text import TokenBytes, complete_prefix, segment_texts

# GPT-2's byte-level alphabet spells byte 0xC3 "Ã" and 0xA9 "©": "é" is U+00E9 = C3 A9.
VOCAB = ["Ġcaf", "Ã", "©", "Ġok", "<|endoftext|>", "<|0.00|>", "\u00bf"]


class Tokenizer:
    def id_to_token(self, token: int) -> str | None:
        return VOCAB[token] if token < len(VOCAB) else None

    def token_to_id(self, token: str) -> int | None:
        return VOCAB.index(token) if token in VOCAB else None


def test_a_character_split_across_segments_goes_whole_to_the_second() -> None:
    texts = segment_texts(TokenBytes(Tokenizer()), [[0, 1], [2, 3, 4, 5]])
    assert texts == [" caf", "é ok"]


def test_bytes_that_never_form_a_character_are_dropped() -> None:
    # A lone continuation byte (0xBF) and a lead byte never completed at the end.
    texts = segment_texts(TokenBytes(Tokenizer()), [[6, 3], [0, 1]])
    assert texts == [" ok", " caf"]
    assert all("\ufffd" not in t for t in texts)


def test_complete_prefix() -> None:
    assert complete_prefix("aé".encode()) == 3
    assert complete_prefix(b"a\xc3") == 1
    assert complete_prefix(b"a\xe2\x82") == 1
    assert complete_prefix("€".encode()) == 3
    assert complete_prefix(b"") == 0
