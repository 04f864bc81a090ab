"""Failures 1, 2 and the upload part of 6: files that crashed the server or blew up its memory.

Every case goes to the real server process; after each the server must still answer, and the
decoded audio must never have been held by the server beyond its bound.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.hostile.conftest import BROKEN_MODEL
from tests.hostile.hostile_files import (
    FFMPEG,
    eight_channels,
    ffmpeg,
    flac_declaring,
    many_channels_wav,
    silence,
    wav_header,
)
from tests.hostile.server import AUTH, MAX_AUDIO_S, Server, http_request, raw_exchange
from tests.integration.transcriptions_support import noise, wav_bytes

pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg")


def transcribe(server: Server, data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        headers=AUTH,
        files={"file": ("upload.bin", data, "application/octet-stream")},
        data={"model": "tiny-whisper", **fields},
        timeout=120,
    )


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


@pytest.mark.parametrize("container", ["flac", "wav", "opus", "aac"])
def test_eight_channel_uploads_are_transcribed_and_the_server_lives(
    server: Server, tmp_path: Path, container: str
) -> None:
    data = eight_channels(tmp_path)[container]
    r = transcribe(server, data, response_format="verbose_json")
    assert r.status_code == 200, r.text
    assert 1.9 < r.json()["duration"] < 2.2
    assert server.alive()


def test_eight_channels_one_by_one(server: Server, tmp_path: Path) -> None:
    r = transcribe(server, eight_channels(tmp_path)["flac"], channel="all")
    assert r.status_code == 200, r.text
    assert server.alive()


def test_more_channels_than_allowed_is_413(server: Server, tmp_path: Path) -> None:
    status, code, message = error_of(transcribe(server, many_channels_wav(tmp_path / "a", 12)))
    assert (status, code) == (413, "audio_too_large")
    assert "12 channels (at most 8)" in message


def test_declared_four_hours_is_refused_before_decoding(server: Server, tmp_path: Path) -> None:
    # A FLAC whose header says 4 h (a 2.7 MB one really that long used to decode to 4 GB):
    # refused from the header, before any decoding.
    data = flac_declaring(tmp_path, 4 * 3600)
    before = server.rss_mb()
    status, code, message = error_of(transcribe(server, data))
    assert (status, code) == (413, "audio_too_large")
    assert f"limit of {MAX_AUDIO_S} s" in message
    assert server.rss_mb() - before < 50


def test_undeclared_hour_of_silence_stops_at_the_limit(server: Server) -> None:
    # 656 kB of FLAC with no duration in its header (written to a pipe): only decoding shows
    # it is an hour long. It used to cost the server +978 MB; the decode now runs in a child
    # process and the server holds at most MAX_AUDIO_S of 16 kHz PCM16 (19 MB) before it stops.
    data = ffmpeg(*silence("mono", 3600), "-c:a", "flac", "-f", "flac")
    assert len(data) < 1_000_000
    before = server.rss_mb()
    status, code, message = error_of(transcribe(server, data))
    assert (status, code) == (413, "audio_too_large")
    assert "longer than the limit" in message
    assert server.rss_mb() - before < 60
    assert server.alive()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (wav_header(bits=0), "codec"),
        (wav_header(tag=0x1234), "codec"),
        (wav_header(channels=0), "channel"),
        (b"RIFF\xff\xff\xff\xffWAVEfmt " + b"\xff" * 64, "readable"),
        (b"#EXTM3U\nhttp://127.0.0.1:9/a.wav\n", "text"),
    ],
    ids=["zero-bits", "unknown-tag", "zero-channels", "garbage-fmt", "playlist"],
)
def test_broken_wav_headers_are_400(server: Server, data: bytes, reason: str) -> None:
    status, code, message = error_of(transcribe(server, data))
    assert (status, code) == (400, "invalid_audio")
    assert reason in message


def test_stereo_per_channel_still_works(server: Server) -> None:
    left, right = noise(0.6, seed=1), noise(0.6, seed=2)
    r = transcribe(server, wav_bytes(left, right), channel="all", response_format="verbose_json")
    assert r.status_code == 200, r.text
    assert {s["channel"] for s in r.json()["segments"]} <= {0, 1}


@pytest.mark.parametrize("name", ["../../etc/passwd", "a b", "..", "x" * 200])
def test_impossible_model_names_are_400(server: Server, name: str) -> None:
    status, code, _ = error_of(transcribe(server, wav_bytes(noise(0.2)), model=name))
    assert (status, code) == (400, "invalid_model_name")
    r = httpx.post(
        f"{server.url}/v1/audio/speech", headers=AUTH, json={"model": name, "input": "oi"}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_model_name")


def test_broken_manifest_is_500_without_paths_and_keeps_the_connection(server: Server) -> None:
    body, boundary = _multipart(wav_bytes(noise(0.2)), BROKEN_MODEL)
    request = http_request(
        "POST", "/v1/audio/transcriptions", body, f"multipart/form-data; boundary={boundary}"
    )
    first, second = raw_exchange(server.port, [request, request])
    for answer in (first, second):
        assert answer.startswith(b"HTTP/1.1 500"), answer[:200]
        assert b"model_broken" in answer
        assert b"/tmp" not in answer
        assert b"mediaserver.toml" not in answer


def _multipart(audio: bytes, model: str) -> tuple[bytes, str]:
    boundary = "hostileboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n{model}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n".encode()
        + audio
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), boundary
