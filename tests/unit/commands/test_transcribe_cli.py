"""`mediaserver transcribe` argument handling and the failures caught before any worker starts."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from mediaserver.cli import build_parser, main
from mediaserver.commands.transcribe import PROGRESS_AFTER_S, ProgressBar, _channel
from tests.unit.engines.model_dirs import make_model_dir


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("MEDIASERVER_MODELS_DIR", str(root))
    monkeypatch.delenv("MEDIASERVER_CONFIG", raising=False)
    return root


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_parser_knows_both_verbs_and_their_options() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["transcribe", "a.wav", "--model", "m", "--language", "pt", "--format", "srt",
         "--hot-words", "Pix,Itaú", "--no-itn", "--channel", "all", "-o", "out.srt"]
    )  # fmt: skip
    assert (args.task, args.model, args.language, args.format) == ("transcribe", "m", "pt", "srt")
    assert (args.hot_words, args.no_itn, args.channel) == ("Pix,Itaú", True, "all")
    assert args.output == Path("out.srt")
    assert parser.parse_args(["translate", "a.wav"]).task == "translate"
    with pytest.raises(SystemExit):
        parser.parse_args(["translate", "a.wav", "--language", "pt"])  # always to English
    with pytest.raises(SystemExit):
        parser.parse_args(["transcribe", "a.wav", "--format", "docx"])


@pytest.mark.parametrize(("value", "expected"), [("mix", "mix"), ("all", "all"), ("1", 1)])
def test_channel_values(value: str, expected: object) -> None:
    assert _channel(value) == expected


def test_bad_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="--channel"):
        _channel("left")


def test_missing_model_names_the_pull_command(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(tmp_path / "a.wav"), "--model", "whisper-x"]) == 1
    assert "mediaserver pull whisper-x" in error_line(capsys)


def test_a_tts_model_cannot_transcribe(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(tmp_path / "a.wav"), "--model", "espeak-ng"]) == 1
    assert "not speech-to-text" in error_line(capsys)


@pytest.mark.parametrize(
    ("content", "reason"), [(None, "No such file"), (b"", "empty"), (b"\x01\x02" * 64, "audio")]
)
def test_unreadable_audio_fails_before_any_worker(
    models_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    reason: str,
) -> None:
    source = make_model_dir(tmp_path / "src", "wenet-ctc")
    assert main(["pull", "w", "--from", str(source), "--engine", "wenet-ctc"]) == 0
    capsys.readouterr()
    audio = tmp_path / "a.wav"
    if content is not None:
        audio.write_bytes(content)
    assert main(["transcribe", str(audio), "--model", "w"]) == 1
    line = error_line(capsys)
    assert "cannot decode audio" in line
    assert reason in line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_for_long_files(monkeypatch: pytest.MonkeyPatch) -> None:
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with ProgressBar(PROGRESS_AFTER_S - 1) as report:
        report(5.0, PROGRESS_AFTER_S - 1)
    assert err.getvalue() == ""
    with ProgressBar(PROGRESS_AFTER_S * 2) as report:
        report(PROGRESS_AFTER_S, PROGRESS_AFTER_S * 2)
        report(PROGRESS_AFTER_S * 2, PROGRESS_AFTER_S * 2)
    assert "100%" in err.getvalue()


def test_progress_bar_moves_with_each_segment_and_never_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stderr", Terminal())
    positions: list[float] = []
    with ProgressBar(68.0) as report:
        bar = report.__self__._bar  # type: ignore[attr-defined]
        for done in (4.2, 9.8, 15.0, 9.8, 30.0, 44.5, 68.0, 70.0):
            report(done, 68.0)
            positions.append(bar.n)
    assert positions == [4.2, 9.8, 15.0, 15.0, 30.0, 44.5, 68.0, 68.0]


@pytest.mark.parametrize("terminal", [False, True])
def test_no_bar_when_not_a_terminal_or_verbose(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    err = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with ProgressBar(PROGRESS_AFTER_S * 2, shown=not terminal) as report:
        report(PROGRESS_AFTER_S, PROGRESS_AFTER_S * 2)
    assert err.getvalue() == ""
