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


def test_cli_verbs_are_quiet_on_a_terminal_unless_verbose() -> None:
    from mediaserver.cli import cli_logging
    from mediaserver.config import LoggingSettings

    configured = LoggingSettings(level="info", format="auto")
    quiet = cli_logging(configured, verb="transcribe", verbose=False, terminal=True)
    assert quiet.level == "critical"
    assert cli_logging(configured, verb="transcribe", verbose=True, terminal=True) == configured
    # Not a terminal: a pipeline or a service manager collects the log (JSON lines by `auto`).
    assert cli_logging(configured, verb="list", verbose=False, terminal=False) == configured
    # A server's log is its output.
    assert cli_logging(configured, verb="serve", verbose=False, terminal=True) == configured


def test_verbose_is_accepted_before_and_after_the_verb() -> None:
    from mediaserver.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["-v", "list"]).verbose is True
    assert parser.parse_args(["list", "-v"]).verbose is True
    assert parser.parse_args(["list"]).verbose is False
    # speak's -v is its voice; --verbose still works there.
    args = parser.parse_args(["speak", "oi", "-v", "pt-br", "--verbose", "-o", "x.wav"])
    assert (args.voice, args.verbose) == ("pt-br", True)
