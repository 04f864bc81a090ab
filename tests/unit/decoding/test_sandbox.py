"""The decode boundary: same audio as in-process decoding, and a child that dies or stalls costs
its request a 4xx, never the caller."""

from __future__ import annotations

import asyncio
import io
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from mediaserver.audio.decode import AudioDecodeError, AudioLimitError, DecodeLimits, decode_audio
from mediaserver.decoding import sandbox
from mediaserver.decoding.sandbox import DecodeSandbox, SandboxLimits


def stereo_wav(seconds: float = 1.0, rate: int = 44100) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    left, right = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)
    frames = (np.stack([left, right], axis=1) * 16000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("channels", ["mix", "all", 1])
async def test_same_samples_as_in_process(channels: str | int) -> None:
    data = stereo_wav()
    box = DecodeSandbox(SandboxLimits(), spare=False)
    got = await box.decode(io.BytesIO(data), channels=channels)  # type: ignore[arg-type]
    want = decode_audio(data, channels=channels, dtype="int16")  # type: ignore[arg-type]
    np.testing.assert_array_equal(got.samples, want.samples)
    assert (got.source_rate, got.source_channels, got.codec) == (44100, 2, "pcm_s16le")


async def test_local_path_and_spare(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(stereo_wav())
    box = DecodeSandbox(SandboxLimits())
    await box.start()
    try:
        first = await box.decode(path)
        second = await box.decode(io.BytesIO(path.read_bytes()))
    finally:
        await box.aclose()
    np.testing.assert_array_equal(first.samples, second.samples)


async def test_limits_are_413_and_bad_files_400() -> None:
    box = DecodeSandbox(SandboxLimits(decode=DecodeLimits(max_duration_s=0.5)), spare=False)
    with pytest.raises(AudioLimitError, match=r"longer than the limit of 0\.5 s"):
        await box.decode(io.BytesIO(stereo_wav()))
    with pytest.raises(AudioLimitError, match="longer than the limit"):  # both channels count
        await box.decode(io.BytesIO(stereo_wav(0.4)), channels="all")
    with pytest.raises(AudioDecodeError, match=r"not a readable audio file|unsupported"):
        await box.decode(io.BytesIO(b"\x00garbage" * 100))
    small = DecodeSandbox(SandboxLimits(max_input_bytes=100), spare=False)
    with pytest.raises(AudioLimitError, match="larger than 100 bytes"):
        await small.decode(io.BytesIO(stereo_wav()))


def fake_child(code: str) -> object:
    async def spawn() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-c", code,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip

    return spawn


@pytest.mark.parametrize(
    ("code", "error", "match"),
    [
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", AudioDecodeError, "SIGSEGV"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGXCPU)", AudioLimitError, "CPU time"),
        ("import sys; sys.stdout.buffer.write(b'Z' * 64)", AudioDecodeError, "garbled"),
        ("import sys; sys.stdout.buffer.write(b'D')", AudioDecodeError, "exit status 0"),
    ],
    ids=["crash", "cpu-limit", "babble", "cut-short"],
)
async def test_a_dying_child_is_the_requests_error(
    monkeypatch: pytest.MonkeyPatch, code: str, error: type[Exception], match: str
) -> None:
    monkeypatch.setattr(sandbox, "_spawn", fake_child(code))
    box = DecodeSandbox(SandboxLimits(), spare=False)
    with pytest.raises(error, match=match):
        await box.decode(io.BytesIO(stereo_wav()))


async def test_a_stalled_child_is_killed_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_spawn", fake_child("import time; time.sleep(60)"))
    monkeypatch.setattr(sandbox, "_KILL_AFTER_S", 0.0)
    box = DecodeSandbox(SandboxLimits(decode=DecodeLimits(max_decode_s=0.3)), spare=False)
    with pytest.raises(AudioLimitError, match=r"longer than 0\.3 s"):
        await box.decode(io.BytesIO(stereo_wav()))
