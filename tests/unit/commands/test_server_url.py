"""Where `ps` and `events` look for the server: `--url`, else the configured host and port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediaserver.commands.server_url import base_url, websocket_url
from mediaserver.config import load_settings
from tests.unit.commands.test_models_cli import fake_server, free_port, models_dir, run

__all__ = ["fake_server", "models_dir"]  # fixtures, shared


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", "8000", "http://127.0.0.1:8000"),
        ("0.0.0.0", "9000", "http://127.0.0.1:9000"),
        ("::", "9000", "http://[::1]:9000"),
    ],
)
def test_default_is_the_configured_server(host: str, port: str, expected: str) -> None:
    settings = load_settings(
        environ={"MEDIASERVER_SERVER__HOST": host, "MEDIASERVER_SERVER__PORT": port}
    )
    assert base_url(settings) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://10.0.0.5:9000/", "http://10.0.0.5:9000"),
        ("localhost:9000", "http://localhost:9000"),
        ("https://voice.example/ms", "https://voice.example/ms"),
    ],
)
def test_url_option_wins(given: str, expected: str) -> None:
    assert base_url(load_settings(environ={}), given) == expected


@pytest.mark.parametrize("bad", ["ftp://x:1", "http://"])
def test_malformed_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="--url"):
        base_url(load_settings(environ={}), bad)


def test_websocket_url() -> None:
    assert websocket_url("http://h:1") == "ws://h:1"
    assert websocket_url("https://h") == "wss://h"


def test_ps_follows_url(
    models_dir: Path,
    capsys: pytest.CaptureFixture[str],
    fake_server: tuple[int, list[dict[str, str]]],
) -> None:
    port, requests = fake_server
    # The configured port is elsewhere (a server started with `serve --port`): --url finds it.
    code, out, err = run(capsys, "ps", "--json", "--url", f"http://127.0.0.1:{port}")
    assert code == 0, err
    shown = [(m["id"], m.get("role")) for m in json.loads(out)]
    assert shown == [
        ("faster-whisper-small", None),
        ("kokoro", None),
        ("faster-whisper-small", "batch"),
    ]
    assert requests[0]["path"] == "/v1/models?loaded=true"


def test_ps_names_where_it_looked(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, _, err = run(capsys, "ps", "--url", f"127.0.0.1:{port}")
    assert code == 1
    assert f"not running at http://127.0.0.1:{port}" in err
    assert "--url" in err
