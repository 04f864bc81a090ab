from __future__ import annotations

import subprocess
import sys

import pytest

from mediaserver import __version__
from mediaserver.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"mediaserver {__version__}"


def test_help_lists_serve() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mediaserver", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "serve" in out


def test_serve_refuses_public_address_without_keys(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDIASERVER_API_KEYS", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "without API keys" in capsys.readouterr().err


def test_bad_config_is_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIASERVER_SERVER__PORT", "0")
    assert main(["serve"]) == 2
    assert "server.port" in capsys.readouterr().err
