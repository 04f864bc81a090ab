"""Shared by the batch transcription tests: tiny models installed with `mediaserver pull --from`,
a real `mediaserver serve` on a free loopback port, and test audio files.

The models are built once per test session (the NeMo grammar cache under the models directory
is then shared too). The tiny Whisper's manifest turns off the temperature fallback ladder
(thresholds far out of reach): random weights would otherwise fail every quality check and be
re-decoded at sampled temperatures, which makes the output random and the tests slow.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from mediaserver.cli import main as cli_main
from mediaserver.engines.models.manifest import ENGINE_TRAITS, Manifest, Source
from tests.tiny_models import build_tiny_wenet_ctc, build_tiny_whisper

ENGINES = {"faster-whisper": "tiny-whisper", "wenet-ctc": "tiny-wenet"}  # engine -> model name
RATE = 16_000
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
SERVER_START_TIMEOUT_S = 60.0
WHISPER_CONFIG = {"log_prob_threshold": -1000.0, "compression_ratio_threshold": 1000.0}

_INSTALLED: dict[Path, Path] = {}


def _with_manifest(directory: Path, name: str, engine: Any, config: dict[str, Any]) -> Path:
    traits = ENGINE_TRAITS[engine]
    Manifest(
        name=name,
        engine=engine,
        type=traits.type,
        architecture=traits.architecture,
        capabilities=traits.capabilities,
        source=Source("local", path=str(directory)),
        config=config,
    ).write(directory)
    return directory


def installed_models(factory: pytest.TempPathFactory) -> Path:
    """A models directory holding both tiny models, imported the way a user would."""
    base = factory.getbasetemp()
    if base not in _INSTALLED:
        root = factory.mktemp("transcription-models")
        sources = {
            "tiny-whisper": _with_manifest(
                build_tiny_whisper(root / "src" / "whisper"),
                "tiny-whisper",
                "faster-whisper",
                WHISPER_CONFIG,
            ),
            "tiny-wenet": build_tiny_wenet_ctc(root / "src" / "wenet"),
        }
        models = root / "models"
        env = {"MEDIASERVER_MODELS_DIR": str(models)}
        with _environ(env):
            for name, source in sources.items():
                assert cli_main(["pull", name, "--from", str(source)]) == 0
        _INSTALLED[base] = models
    return _INSTALLED[base]


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(models: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "MEDIASERVER_MODELS_DIR": str(models),
        "MEDIASERVER_SERVER__HOST": "127.0.0.1",
        "MEDIASERVER_SERVER__PORT": str(port),
        "MEDIASERVER_SERVER__MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "MEDIASERVER_RTP__ENABLED": "false",
        "MEDIASERVER_AUDIOSOCKET__ENABLED": "false",
        "MEDIASERVER_MODELS__AUTO_UNLOAD_S": "0",
        "MEDIASERVER_LOGGING__LEVEL": "warning",
    }


@contextlib.contextmanager
def running_server(models: Path) -> Iterator[str]:
    """`mediaserver serve` in a subprocess; yields its base URL; stopped with SIGTERM."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediaserver", "serve", "--port", str(port)],
        env=server_env(models, port),
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"server exited with {proc.returncode}"
            assert time.monotonic() < deadline, "server did not become ready"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def noise(seconds: float, seed: int = 1) -> npt.NDArray[np.int16]:
    """Silence, a burst of noise (the tiny models "hear" it as speech), silence."""
    rng = np.random.default_rng(seed)
    pad = np.zeros(int(0.3 * RATE))
    body = rng.standard_normal(int(seconds * RATE)) * 0.1 * 32767
    return np.concatenate([pad, body, pad]).astype(np.int16)


def wav_bytes(*channels: npt.NDArray[np.int16], rate: int = RATE) -> bytes:
    """A PCM16 WAV file, one argument per channel (equal lengths)."""
    frames = np.stack(channels, axis=1)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.astype("<i2").tobytes())
    return buf.getvalue()


def encode(pcm: npt.NDArray[np.int16], container: str, codec: str, rate: int = RATE) -> bytes:
    """Mono PCM16 encoded with PyAV (FFmpeg) into `container` with `codec`."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"  # type: ignore[union-attr]
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.rate = rate
        for packet in stream.encode(frame):  # type: ignore[union-attr]
            out.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            out.mux(packet)
    return buf.getvalue()


def post_audio(
    url: str, data: bytes, *, endpoint: str = "transcriptions", timeout: float = 120, **fields: Any
) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/audio/{endpoint}",
        files={"file": ("audio.wav", data, "application/octet-stream")},
        data=fields,
        timeout=timeout,
    )
