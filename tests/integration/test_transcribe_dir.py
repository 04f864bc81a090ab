"""`mediaserver transcribe DIR/ -o OUT/`: one output per input, resumable, failures reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediaserver.cli import main
from tests.integration.transcriptions_support import installed_models, noise, wav_bytes

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def test_a_folder_is_transcribed_once_per_file_and_resumes(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("MEDIASERVER_MODELS_DIR", str(installed_models(tmp_path_factory)))
    monkeypatch.setenv("MEDIASERVER_LOGGING__LEVEL", "warning")
    folder, out = tmp_path / "in", tmp_path / "out"
    (folder / "day2").mkdir(parents=True)
    (folder / "a.wav").write_bytes(wav_bytes(noise(1.0)))
    (folder / "day2" / "b.wav").write_bytes(wav_bytes(noise(1.5, seed=2)))
    (folder / "notes.txt").write_text("not audio")
    (folder / ".hidden.wav").write_bytes(b"skipped")
    args = ["transcribe", str(folder), "-o", str(out), "--model", "tiny-whisper",
            "--format", "json", "--jobs", "2"]  # fmt: skip

    assert main(args) == 1  # notes.txt cannot be decoded; the others are done
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert outputs == ["a.wav.json", "day2/b.wav.json"]
    assert all("text" in json.loads((out / name).read_text()) for name in outputs)
    err = capsys.readouterr().err
    assert "notes.txt" in err
    assert "3/3 files" in err  # the bar counted every file, failed or not

    (folder / "notes.txt").unlink()
    stamp = (out / "a.wav.json").stat().st_mtime_ns
    (out / "day2" / "b.wav.json").unlink()  # as if the first run had stopped before it
    assert main(args) == 0
    assert (out / "a.wav.json").stat().st_mtime_ns == stamp  # done already: skipped
    assert (out / "day2" / "b.wav.json").is_file()
