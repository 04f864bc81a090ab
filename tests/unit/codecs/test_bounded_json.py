from __future__ import annotations

import pytest

from mediaserver.codecs.bounded_json import JsonError, nesting_depth, parse_json


def test_parses_ordinary_json() -> None:
    assert parse_json(b'{"a": [1, {"b": "c"}]}') == {"a": [1, {"b": "c"}]}
    assert parse_json('"x"') == "x"


@pytest.mark.parametrize("depth", [33, 1000, 60_000])
def test_deep_nesting_is_refused_with_a_reason(depth: int) -> None:
    with pytest.raises(JsonError, match="nested deeper than 32 levels"):
        parse_json("[" * depth + "]" * depth)


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"t": "' + "[{" * 1000 + '\\" ]]"}'
    assert nesting_depth(text) == 1
    assert parse_json(text)["t"].startswith("[{[{")


def test_depth_32_is_allowed() -> None:
    value = parse_json("[" * 32 + "]" * 32)
    for _ in range(31):
        (value,) = value
    assert value == []


@pytest.mark.parametrize(
    ("data", "match"),
    [(b"\xff\xfe", "not UTF-8"), (b"{nope", "not valid JSON"), (b"", "not valid JSON")],
)
def test_bad_text_says_what_is_wrong(data: bytes, match: str) -> None:
    with pytest.raises(JsonError, match=match):
        parse_json(data)
