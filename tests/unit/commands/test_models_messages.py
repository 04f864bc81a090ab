"""Messages of the model verbs that point a newcomer the right way: suggestions for typos, the
user's own directory in import errors, help for every argument, no warning about our cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.cli import build_parser
from mediaserver.engines.models.suggestions import closest
from tests.unit.commands.test_models_cli import models_dir, one_line_error, run
from tests.unit.engines.model_dirs import make_model_dir

__all__ = ["models_dir"]  # a fixture, shared


def test_closest() -> None:
    names = ["faster-whisper-small", "faster-whisper-base", "kokoro", "espeak-ng"]
    assert closest("faster-whisper-smal", names) == "faster-whisper-small"
    assert closest("Kokoro", names) == "kokoro"
    assert closest("wenet", names) is None
    assert closest("kokoro", names) is None  # the name itself is no suggestion


def test_a_mistyped_catalog_name_gets_did_you_mean(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "pull", "faster-whisper-smal")
    assert code == 1
    assert "did you mean 'faster-whisper-small'?" in one_line_error(err)
    code, _, err = run(capsys, "inspect", "faster-whisper-smal")
    assert code == 1
    line = one_line_error(err)
    assert "did you mean 'faster-whisper-small'?" in line
    assert "`mediaserver pull faster-whisper-small`" in line


def test_a_mistyped_installed_name_suggests_the_installed_one(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_model_dir(tmp_path / "src", "wenet-ctc")
    assert run(capsys, "pull", "my-ctc-model", "--from", str(source))[0] == 0
    code, _, err = run(capsys, "rm", "my-ctc-modle", "-y")
    assert code == 1
    line = one_line_error(err)
    assert "(did you mean 'my-ctc-model'? it is installed)" in line
    assert "`mediaserver pull my-ctc-modle`" in line  # it may be a model still to install


def test_a_catalog_name_not_installed_gets_the_pull_command(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "inspect", "faster-whisper-base")
    assert code == 1
    line = one_line_error(err)
    assert "did you mean" not in line
    assert "run `mediaserver pull faster-whisper-base`" in line


def test_an_incomplete_directory_is_named_as_the_user_gave_it(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_model_dir(tmp_path / "whisper", "faster-whisper", skip=("model.bin",))
    code, _, err = run(capsys, "pull", "faster-whisper-tiny", "--from", str(source))
    assert code == 1
    line = one_line_error(err)
    assert f"{source.resolve()} is not a complete faster-whisper model: missing" in line
    assert "model.bin" in line
    assert ".staging-" not in line
    assert not list(models_dir.glob(".staging-*")) if models_dir.exists() else True


def test_list_does_not_warn_about_the_servers_cache(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (models_dir / "cache" / "itn").mkdir(parents=True)
    code, out, err = run(capsys, "list")
    assert code == 0
    assert err == ""
    assert "cache" not in out


@pytest.mark.parametrize(
    ("verb", "argument"),
    [("pull", "--engine"), ("rm", "NAME"), ("inspect", "NAME"), ("events", "CALL_ID")],
)
def test_every_argument_has_help(verb: str, argument: str) -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    sub = subparsers.choices[verb]  # type: ignore[index]
    for action in sub._actions:
        if argument in (*action.option_strings, action.metavar):
            assert action.help, f"{verb} {argument} has no help text"
            return
    raise AssertionError(f"{verb} has no {argument}")
