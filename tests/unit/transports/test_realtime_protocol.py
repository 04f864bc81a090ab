from __future__ import annotations

import pytest

from mediaserver.transports.realtime_protocol import (
    CLIENT_TYPES,
    ClientMessage,
    Configure,
    ProtocolError,
    options_from_query,
    parse_client_message,
    parse_configure,
    parse_sample_rate,
)


@pytest.mark.parametrize("kind", sorted(CLIENT_TYPES))
def test_every_client_type_parses(kind: str) -> None:
    assert parse_client_message(f'{{"type": "{kind}", "x": 1}}') == ClientMessage(
        kind, {"type": kind, "x": 1}
    )


@pytest.mark.parametrize(
    ("text", "code", "param"),
    [
        ("", "invalid_json", None),
        ("{", "invalid_json", None),
        ('"session.close"', "invalid_message", None),
        ("{}", "invalid_message", "type"),
        ('{"type": null}', "invalid_message", "type"),
        ('{"type": "session.update"}', "unknown_message_type", "type"),
    ],
)
def test_bad_messages_say_what_is_wrong(text: str, code: str, param: str | None) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(text)
    assert (info.value.code, info.value.param) == (code, param)
    assert info.value.message


def test_configure_splits_rate_from_call_options() -> None:
    body = {"type": "session.configure", "sample_rate": 8000, "language": "pt", "vad": {}}
    assert parse_configure(body) == Configure(8000, {"language": "pt", "vad": {}})
    assert parse_configure({"type": "session.configure"}) == Configure(None, {})


@pytest.mark.parametrize("value", [True, 16000.0, "16k", 7999, 192001, None, -1])
def test_bad_sample_rates(value: object) -> None:
    with pytest.raises(ProtocolError, match="sample_rate") as info:
        parse_sample_rate(value)
    assert info.value.code == "invalid_sample_rate"


def test_sample_rate_bounds_and_query_strings() -> None:
    assert parse_sample_rate(8000) == 8000
    assert parse_sample_rate(192000) == 192000
    assert parse_sample_rate("44100") == 44100


def test_options_from_query() -> None:
    assert options_from_query({}) == (16000, {})
    rate, options = options_from_query(
        {"model": "tiny", "language": "pt", "sample_rate": "8000", "token": "secret"}
    )
    assert (rate, options) == (8000, {"model": "tiny", "language": "pt"})
    with pytest.raises(ProtocolError):
        options_from_query({"sample_rate": "fast"})
