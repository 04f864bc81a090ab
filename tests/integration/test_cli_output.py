"""What a person at a terminal sees from `mediaserver transcribe`: the result on stdout, a
progress bar on stderr, and no log lines (worker or parent) unless `-v` asks for them."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.integration.transcriptions_support import installed_models, noise, wav_bytes

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

# What a structlog line looks like in either renderer: JSON, or "2026-... [info     ] event".
LOG_LINE = re.compile(r'"event":|\[(debug|info|warning|error)\s*\]')
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed_models(tmp_path_factory)


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "long.wav"
    path.write_bytes(wav_bytes(noise(40.0)))  # past PROGRESS_AFTER_S: the bar is shown
    return path


def run_on_terminal(models: Path, *argv: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout a pipe, as in `x > out.txt`)."""
    master, slave = pty.openpty()
    # A fresh pseudo-terminal is 0x0, where tqdm draws an empty bar: size it like a window.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {
        **os.environ,
        "MEDIASERVER_MODELS_DIR": str(models),
    }
    env.pop("MEDIASERVER_LOGGING__LEVEL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediaserver", *argv],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    err = ANSI.sub("", b"".join(chunks).decode(errors="replace"))
    return proc.wait(timeout=60), out, err


def test_a_terminal_sees_the_result_and_a_bar_only(models_dir: Path, long_file: Path) -> None:
    code, out, err = run_on_terminal(models_dir, "transcribe", str(long_file), "--model",
                                     "tiny-wenet")  # fmt: skip
    assert code == 0, err
    assert out.strip()
    assert "transcribing" in err
    assert "100%" in err
    assert not LOG_LINE.search(err), err
    assert "Traceback" not in err


def test_verbose_shows_log_lines_instead_of_the_bar(models_dir: Path, long_file: Path) -> None:
    code, out, err = run_on_terminal(models_dir, "-v", "transcribe", str(long_file), "--model",
                                     "tiny-wenet")  # fmt: skip
    assert code == 0, err
    assert out.strip()
    assert LOG_LINE.search(err), err
    assert "transcribing" not in err
    # Workers render like their parent on a terminal: no JSON line among console ones.
    assert '"event":' not in err
