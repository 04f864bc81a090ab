"""Hostile uploads, made at test time with ffmpeg or by hand."""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from pathlib import Path

FFMPEG = shutil.which("ffmpeg")


def ffmpeg(*args: str) -> bytes:
    """ffmpeg's output written to a pipe (so FLAC gets no total-duration field: unknown)."""
    assert FFMPEG is not None
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", *args, "pipe:"]
    return subprocess.run(cmd, check=True, capture_output=True, timeout=60).stdout


def ffmpeg_file(path: Path, *args: str) -> bytes:
    """ffmpeg's output written to a seekable file (headers carry the duration)."""
    assert FFMPEG is not None
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args, str(path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return path.read_bytes()


def silence(layout: str, seconds: float, rate: int = 8000) -> list[str]:
    return ["-f", "lavfi", "-i", f"anullsrc=r={rate}:cl={layout}", "-t", str(seconds)]


def eight_channels(tmp: Path) -> dict[str, bytes]:
    """7.1 in every container the issue named: FLAC, WAV, Opus, AAC."""
    src = silence("7.1", 2)
    return {
        "flac": ffmpeg_file(tmp / "8ch.flac", *src, "-c:a", "flac"),
        "wav": ffmpeg_file(tmp / "8ch.wav", *src, "-c:a", "pcm_s16le"),
        "opus": ffmpeg_file(tmp / "8ch.ogg", *src, "-ar", "48000", "-c:a", "libopus",
                            "-mapping_family", "1"),
        "aac": ffmpeg_file(tmp / "8ch.m4a", *src, "-c:a", "aac"),
    }  # fmt: skip


def flac_declaring(tmp: Path, seconds: float) -> bytes:
    """One second of FLAC whose STREAMINFO claims `seconds` (its 36-bit total-samples field)."""
    data = bytearray(ffmpeg_file(tmp / "short.flac", *silence("mono", 1), "-c:a", "flac"))
    assert data[:4] == b"fLaC"
    assert data[4] & 0x7F == 0  # STREAMINFO comes first
    at = 8 + 10  # sample rate (20 bits), channels (3), bits (5), total samples (36)
    packed = int.from_bytes(data[at : at + 8], "big")
    rate = packed >> 44
    packed = (packed & ~((1 << 36) - 1)) | int(seconds * rate)
    data[at : at + 8] = packed.to_bytes(8, "big")
    return bytes(data)


def wav_header(*, tag: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16) -> bytes:
    """A WAV with a hand-written `fmt ` chunk (any tag, any bit depth) and 0.1 s of zeros."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    data = b"\0" * 3200
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def many_channels_wav(path: Path, channels: int) -> bytes:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0" * 2 * channels * 8000)
    return path.read_bytes()


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth
