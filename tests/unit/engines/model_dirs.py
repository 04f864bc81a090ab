"""Directories laid out like each engine's models (file names right, contents filler)."""

from __future__ import annotations

from pathlib import Path

LAYOUTS: dict[str, dict[str, bytes]] = {
    "faster-whisper": {
        "model.bin": b"\x01" * 3000,
        "config.json": b"{}",
        "tokenizer.json": b"{}",
        "vocabulary.json": b"[]",
        "preprocessor_config.json": b"{}",
    },
    "wenet-ctc": {
        "model.onnx": b"\x02" * 500,
        "model.int8.onnx": b"\x02" * 200,
        "model-streaming.onnx": b"\x02" * 500,
        "model-streaming.int8.onnx": b"\x02" * 200,
        "tokens.txt": b"<blank> 0\n",
    },
    "kokoro": {
        "config.json": b"{}",
        "kokoro-v1_0.pth": b"\x03" * 1000,
        "voices/pf_dora.pt": b"\x04" * 100,
        "voices/pm_alex.pt": b"\x04" * 100,
    },
}


def make_model_dir(root: Path, engine: str, *, skip: tuple[str, ...] = ()) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in LAYOUTS[engine].items():
        if rel in skip:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def layout_size(engine: str) -> int:
    return sum(len(data) for data in LAYOUTS[engine].values())
