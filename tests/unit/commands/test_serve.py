from __future__ import annotations

import dataclasses

import pytest

from mediaserver.commands.serve import bind_refusal, is_loopback
from mediaserver.config import ServerSettings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-host"])
def test_open_address_needs_keys_or_insecure(host: str) -> None:
    server = dataclasses.replace(ServerSettings(), host=host)
    refusal = bind_refusal(server)
    assert refusal is not None
    assert host in refusal
    assert "MEDIASERVER_API_KEYS" in refusal
    assert "--insecure" in refusal
    assert bind_refusal(dataclasses.replace(server, api_keys=("k",))) is None
    assert bind_refusal(dataclasses.replace(server, insecure=True)) is None


def test_loopback_needs_nothing() -> None:
    assert bind_refusal(ServerSettings(host="127.0.0.1")) is None
    assert bind_refusal(ServerSettings(host="::1")) is None
