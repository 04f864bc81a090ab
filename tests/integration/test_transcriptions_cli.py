"""`mediaserver transcribe` / `translate` end to end: real engines in a local worker process.

The same contract as over REST: every output format renders the same transcript, for both
engines; missing models and translation by a model that cannot translate fail clearly.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from mediaserver.cli import main
from tests.integration.transcriptions_support import ENGINES, installed_models, noise, wav_bytes

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
MODELS = list(ENGINES.values())


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed_models(tmp_path_factory)


@pytest.fixture
def env(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIASERVER_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("MEDIASERVER_LOGGING__LEVEL", "warning")
    return models_dir


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "call.wav"
    path.write_bytes(wav_bytes(noise(2.0)))
    return path


def transcribe(*args: str) -> int:
    return main(["transcribe", *args])


def verbose(tmp_path: Path, audio: Path, model: str, *extra: str) -> dict[str, Any]:
    out = tmp_path / "verbose.json"
    assert transcribe(str(audio), "--model", model, "--format", "verbose_json", "-o", str(out),
                      *extra) == 0  # fmt: skip
    body: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return body


@pytest.mark.parametrize("model", MODELS)
def test_every_format_from_the_cli(
    env: Path, speech: Path, tmp_path: Path, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = verbose(tmp_path, speech, model)
    assert reference["duration"] == pytest.approx(2.6, abs=0.01)
    assert reference["segments"]
    texts = [s["text"] for s in reference["segments"]]

    assert transcribe(str(speech), "--model", model, "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == {"text": reference["text"]}
    assert transcribe(str(speech), "--model", model) == 0  # text is the default
    assert capsys.readouterr().out == reference["text"] + "\n"
    for fmt in ("srt", "vtt"):
        out = tmp_path / f"out.{fmt}"
        assert transcribe(str(speech), "--model", model, "--format", fmt, "-o", str(out)) == 0
        body = out.read_text(encoding="utf-8")
        assert body.startswith("WEBVTT\n\n" if fmt == "vtt" else "1\n00:00:")
        cue_texts = [b.split("\n")[-1] for b in body.strip().split("\n\n") if "-->" in b]
        assert cue_texts == texts


def test_stereo_recording_per_channel(env: Path, tmp_path: Path) -> None:
    stereo = tmp_path / "stereo.wav"
    stereo.write_bytes(wav_bytes(noise(2.0, seed=5), noise(2.0, seed=6)))
    body = verbose(tmp_path, stereo, "tiny-wenet", "--channel", "all")
    assert {s["channel"] for s in body["segments"]} == {0, 1}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_long_files_show_progress(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    long = tmp_path / "long.wav"
    long.write_bytes(wav_bytes(noise(40.0)))
    err = Terminal()  # the bar is for a person at a terminal (none when stderr is a pipe)
    monkeypatch.setattr(sys, "stderr", err)
    assert transcribe(str(long), "--model", "tiny-wenet", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["text"]
    assert re.search(r"transcribing: 100%.*40\.6/40\.6 s", err.getvalue())


def test_translate(env: Path, speech: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", str(speech), "--model", "tiny-whisper", "--format", "json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out)["text"], str)
    assert main(["translate", str(speech), "--model", "tiny-wenet"]) == 2
    assert "cannot translate" in capsys.readouterr().err


@pytest.mark.parametrize("terminal", [True, False])
def test_a_bar_decodes_window_by_window(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    """With a bar to move, windows are decoded one at a time (it moves at each, not at every
    other); without one, in batches, which is faster on CPU."""
    from mediaserver.commands import transcribe as command

    seen: list[int] = []
    real = command.batch.transcribe

    async def spy(engines: Any, model: str, rows: Any, options: Any, progress: Any) -> Any:
        seen.append(options.batch_size)
        return await real(engines, model, rows, options, progress)

    monkeypatch.setattr(command.batch, "transcribe", spy)
    monkeypatch.setattr(sys, "stderr", Terminal() if terminal else io.StringIO())
    long = tmp_path / "long.wav"
    long.write_bytes(wav_bytes(noise(40.0)))
    out = tmp_path / "out.json"
    assert transcribe(str(long), "--model", "tiny-wenet", "--format", "json", "-o", str(out)) == 0
    assert seen == ([1] if terminal else [8])
