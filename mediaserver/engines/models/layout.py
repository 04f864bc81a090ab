"""Which files each engine needs in a model directory: detection and validation.

Run on a directory before it is installed, so a model missing its tokenizer is refused at
import time with the file named, not at load time inside a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mediaserver.engines.models.manifest import ENGINES, EngineName


class ModelLayoutError(ValueError):
    """A model directory lacks files its engine needs, or its engine cannot be told."""


@dataclass(frozen=True, slots=True)
class _Requirement:
    description: str  # what the user must provide, in words
    present: Callable[[Path], bool]


def _file(name: str) -> _Requirement:
    return _Requirement(name, lambda d: (d / name).is_file())


def _any(pattern: str, description: str | None = None) -> _Requirement:
    return _Requirement(description or pattern, lambda d: any(p.is_file() for p in d.glob(pattern)))


def _one_of(*names: str) -> _Requirement:
    return _Requirement(" or ".join(names), lambda d: any((d / n).is_file() for n in names))


REQUIREMENTS: Final[Mapping[EngineName, tuple[_Requirement, ...]]] = {
    "faster-whisper": (
        _file("model.bin"),
        _file("config.json"),
        _one_of("tokenizer.json", "vocabulary.json", "vocabulary.txt"),
    ),
    "wenet-ctc": (_any("*.onnx", "a *.onnx model"), _file("tokens.txt")),
    "kokoro": (
        _file("config.json"),
        _any("*.pth", "a *.pth weights file"),
        _any("voices/*.pt", "voices/*.pt (at least one voice)"),
    ),
    "espeak-ng": (),
}


def missing_files(model_dir: Path, engine: EngineName) -> list[str]:
    """What `engine` needs that `model_dir` lacks (empty when complete)."""
    return [req.description for req in REQUIREMENTS[engine] if not req.present(model_dir)]


def check_layout(model_dir: Path, engine: EngineName) -> None:
    missing = missing_files(model_dir, engine)
    if missing:
        raise ModelLayoutError(
            f"{model_dir} is not a complete {engine} model: missing {', '.join(missing)}"
        )


def detect_engine(model_dir: Path) -> EngineName:
    """The one engine whose files are all present; pass `--engine` when this is ambiguous."""
    candidates = [e for e in ENGINES if REQUIREMENTS[e] and not missing_files(model_dir, e)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise ModelLayoutError(
            f"{model_dir} looks like a model for several engines ({', '.join(candidates)}); "
            "choose one with --engine"
        )
    needs = "; ".join(
        f"{e}: {', '.join(r.description for r in reqs)}" for e, reqs in REQUIREMENTS.items() if reqs
    )
    raise ModelLayoutError(f"cannot tell which engine {model_dir} is for (expected {needs})")


def detected_config(model_dir: Path, engine: EngineName) -> dict[str, Any]:
    """Engine options read off the files of an imported directory (which .onnx, which .pth)."""
    if engine == "wenet-ctc":
        onnx = sorted(p.name for p in model_dir.glob("*.onnx"))
        streaming = [n for n in onnx if "streaming" in n]
        offline = [n for n in onnx if "streaming" not in n] or onnx
        # Prefer int8 exports: same accuracy class, a third of the memory on CPU.
        config: dict[str, Any] = {"model": _prefer_int8(offline), "tokens": "tokens.txt"}
        if streaming:
            config["streaming_model"] = _prefer_int8(streaming)
        return config
    if engine == "kokoro":
        return {"model": sorted(p.name for p in model_dir.glob("*.pth"))[0]}
    return {}


def detected_voices(model_dir: Path, engine: EngineName) -> tuple[str, ...]:
    if engine == "kokoro":
        return tuple(sorted(p.stem for p in model_dir.glob("voices/*.pt")))
    return ()


def _prefer_int8(names: list[str]) -> str:
    return next((n for n in names if "int8" in n), names[0])
