"""`mediaserver speak TEXT -o FILE` with the builtin espeak-ng in a real local worker."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import av
import pytest

from mediaserver.cli import build_parser, main
from mediaserver.commands.speak import output_format


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("MEDIASERVER_MODELS_DIR", str(root))
    monkeypatch.setenv("MEDIASERVER_LOGGING__LEVEL", "warning")
    monkeypatch.delenv("MEDIASERVER_CONFIG", raising=False)
    return root


def seconds_of(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def test_parser_options() -> None:
    args = build_parser().parse_args(
        ["speak", "Olá", "-v", "pt-br", "--model", "espeak-ng", "--speed", "1.5",
         "--format", "flac", "-o", "out.flac"]
    )  # fmt: skip
    assert (args.text, args.voice, args.model, args.speed) == ("Olá", "pt-br", "espeak-ng", 1.5)
    assert (args.format, args.output) == ("flac", "out.flac")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["speak", "Olá"])  # -o is required
    with pytest.raises(SystemExit):
        build_parser().parse_args(["speak", "Olá", "-o", "x", "--format", "aac"])


@pytest.mark.parametrize(
    ("output", "given", "expected"),
    [
        ("a.mp3", None, "mp3"),
        ("a.OGG", None, "opus"),
        ("a.opus", None, "opus"),
        ("a.flac", None, "flac"),
        ("a.raw", None, "wav"),
        ("-", None, "wav"),
        ("a.mp3", "pcm", "pcm"),
    ],
)
def test_format_from_the_suffix_unless_given(output: str, given: str | None, expected: str) -> None:
    assert output_format(output, given) == expected


def test_writes_a_wav_with_its_exact_length(models_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "saldo.wav"
    assert main(["speak", "Seu saldo é R$ 1.234,56.", "-o", str(out)]) == 0
    with wave.open(str(out)) as w:  # the wave module trusts the header's sizes
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22_050)
        frames = w.getnframes()
    assert out.stat().st_size == 44 + 2 * frames
    assert 2.0 < frames / 22_050 < 10.0  # "mil duzentos e trinta e quatro reais e ..."


def test_writes_mp3_by_suffix(models_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ola.mp3"
    assert main(["speak", "Olá, tudo bem?", "-v", "pt-br", "--speed", "1.2", "-o", str(out)]) == 0
    assert 0.3 < seconds_of(out.read_bytes()) < 4.0


def test_writes_to_stdout(models_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["speak", "Um momento, por favor.", "--format", "flac", "-o", "-"]) == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"fLaC")
    assert 0.5 < seconds_of(out) < 5.0


def test_reads_the_text_from_stdin(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Bom dia.\n"))
    out = tmp_path / "bom-dia.wav"
    assert main(["speak", "-", "-o", str(out)]) == 0
    assert seconds_of(out.read_bytes()) > 0.3


@pytest.mark.parametrize(
    ("argv", "rc", "message"),
    [
        (["-v", "alloy"], 2, "has no voice 'alloy'"),
        (["--speed", "3"], 2, "speed must be between 0.5 and 2.0"),
        (["--model", "kokoro"], 1, "mediaserver pull kokoro"),
    ],
)
def test_failures_leave_no_file(
    models_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    rc: int,
    message: str,
) -> None:
    out = tmp_path / "never.wav"
    assert main(["speak", "Olá", *argv, "-o", str(out)]) == rc
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not out.exists()
