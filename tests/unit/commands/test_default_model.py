"""`serve --pull-missing`: the default STT model is pulled before serving, or its absence is
reported once, with the way out, and the server starts anyway."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mediaserver.cli import build_parser
from mediaserver.commands import serve
from mediaserver.commands.default_model import pull_missing_default
from mediaserver.config import Settings
from mediaserver.engines.models import hub
from mediaserver.engines.models.registry import Registry
from tests.unit.engines.model_dirs import make_model_dir


def no_probe() -> None:
    pass


def test_pulls_the_missing_default_with_the_hub_downloader(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    fetched: list[str] = []

    def download(repo: str, patterns: list[str], revision: str | None, dest: Path) -> None:
        fetched.append(repo)
        make_model_dir(dest, "faster-whisper")

    assert pull_missing_default(settings, downloader=download, probe=no_probe) is True
    name = settings.models.default_stt
    assert fetched == [f"Systran/{name}"]
    assert Registry.from_settings(settings).get(name).manifest.engine == "faster-whisper"
    err = capsys.readouterr().err
    assert f"{name}, the default speech-to-text model, is not installed; pulling it" in err
    assert f"installed {name}" in err


def test_nothing_to_do_when_installed(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Registry.from_settings(settings)
    name = settings.models.default_stt
    registry.import_dir(make_model_dir(tmp_path / "src", "faster-whisper"), name=name)

    def never(*_: object) -> None:
        raise AssertionError("nothing should be downloaded")

    assert pull_missing_default(settings, downloader=never, probe=never) is True
    assert capsys.readouterr().err == ""


def test_offline_says_so_once_with_the_way_out(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # .invalid never resolves (RFC 2606): the real probe fails the way it does offline.
    monkeypatch.setattr(hub, "hub_endpoint", lambda: "https://hub.invalid")
    assert pull_missing_default(settings) is False
    name = settings.models.default_stt
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"mediaserver: {name}, the default speech-to-text model")
    assert "cannot reach the Hugging Face hub at https://hub.invalid" in lines[1]
    assert f"`mediaserver pull {name} --from DIR`" in lines[1]
    assert lines[1].endswith("Serving without it: transcription fails until it is installed.")
    assert "Traceback" not in "".join(lines)


def test_a_default_outside_the_catalog_names_pull_from(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    models = dataclasses.replace(settings.models, default_stt="my-whisper")
    assert pull_missing_default(dataclasses.replace(settings, models=models)) is False
    err = capsys.readouterr().err
    assert "`mediaserver pull my-whisper --from DIR`" in err


def test_serve_pulls_before_it_serves(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []

    class Stop(Exception):
        pass

    def fake_pull(_: Settings) -> bool:
        order.append("pull")
        return False

    def fake_create_app(*_: object, **__: object) -> None:
        order.append("serve")
        raise Stop

    monkeypatch.setattr("mediaserver.commands.default_model.pull_missing_default", fake_pull)
    monkeypatch.setattr("mediaserver.app.create_app", fake_create_app)
    args = build_parser().parse_args(["serve", "--pull-missing"])
    with pytest.raises(Stop):
        serve.run(args, settings)
    assert order == ["pull", "serve"]
    order.clear()
    with pytest.raises(Stop):
        serve.run(argparse.Namespace(host=None, port=None, insecure=False), settings)
    assert order == ["serve"]
