"""The batch transcription contract over REST, against a real `mediaserver serve`.

Both engines (faster-whisper and wenet-ctc, tiny random-weight models imported with
`mediaserver pull NAME --from DIR`) run in real worker processes and must pass the same tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from mediaserver.commands.models import ps
from mediaserver.config import load_settings
from tests.integration.transcriptions_support import (
    ENGINES,
    MAX_UPLOAD_BYTES,
    encode,
    installed_models,
    noise,
    post_audio,
    running_server,
    wav_bytes,
)

pytestmark = pytest.mark.timeout(240)
MODELS = list(ENGINES.values())
SPEECH = wav_bytes(noise(2.0))
_TIME = r"(\d{2}):(\d{2}):(\d{2})[,.](\d{3})"
CUE_TIME = re.compile(f"^{_TIME} --> {_TIME}$")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed_models(tmp_path_factory)


@pytest.fixture(scope="module")
def server(models_dir: Path) -> Iterator[str]:
    with running_server(models_dir) as url:
        yield url


def verbose(server: str, model: str, data: bytes = SPEECH, **fields: Any) -> dict[str, Any]:
    r = post_audio(server, data, model=model, response_format="verbose_json", **fields)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def cues(body: str, first_line: str | None) -> list[tuple[float, float, str]]:
    """(start, end, text) of each subtitle cue; checks the header and cue numbering."""
    blocks = body.strip("\n").split("\n\n")
    if first_line is not None:
        assert blocks.pop(0) == first_line
    out = []
    for n, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        if first_line is None:
            assert lines.pop(0) == str(n)
        match = CUE_TIME.match(lines[0])
        assert match is not None, lines[0]
        g = match.groups()
        out.append((seconds(*g[:4]), seconds(*g[4:]), "\n".join(lines[1:])))
    return out


@pytest.mark.parametrize("model", MODELS)
def test_verbose_json_describes_the_audio(server: str, model: str) -> None:
    body = verbose(server, model, timestamp_granularities=["word", "segment"])
    assert body["task"] == "transcribe"
    assert body["duration"] == pytest.approx(2.6, abs=0.01)
    assert body["language"]
    assert body["segments"], "the tiny models always hear words in noise"
    assert body["text"] == " ".join(s["text"] for s in body["segments"])
    assert "raw_text" in body
    assert isinstance(body["entities"], list)
    ends = [0.0]
    for i, s in enumerate(body["segments"]):
        assert s["id"] == i
        assert ends[-1] - 0.001 <= s["start"] <= s["end"] <= body["duration"] + 0.001
        for key in ("avg_logprob", "no_speech_prob", "raw_text", "tokens", "temperature"):
            assert key in s
        ends.append(s["end"])
    assert isinstance(body["words"], list)
    for w in body["words"]:
        assert 0 <= w["start"] <= w["end"] <= body["duration"] + 0.001


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt"])
@pytest.mark.parametrize("model", MODELS)
def test_every_format_renders_the_same_transcript(server: str, model: str, fmt: str) -> None:
    reference = verbose(server, model)
    r = post_audio(server, SPEECH, model=model, response_format=fmt)
    assert r.status_code == 200, r.text
    segments = [(s["start"], s["end"], s["text"]) for s in reference["segments"]]
    if fmt == "json":
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {"text": reference["text"]}
    elif fmt == "text":
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text == reference["text"] + "\n"
    else:
        got = cues(r.text, "WEBVTT" if fmt == "vtt" else None)
        assert [text for *_, text in got] == [text for *_, text in segments]
        for (start, end, _), (s, e, _) in zip(got, segments, strict=True):
            assert start == pytest.approx(s, abs=0.0011)
            assert end == pytest.approx(e, abs=0.0011)


@pytest.mark.parametrize("model", MODELS)
def test_stereo_call_is_transcribed_per_channel_and_merged_by_time(server: str, model: str) -> None:
    caller, agent = noise(2.0, seed=3), noise(2.0, seed=4)
    stereo = wav_bytes(caller, agent)
    merged = verbose(server, model, stereo, channel="all")
    left = verbose(server, model, stereo, channel="0")
    right = verbose(server, model, wav_bytes(agent))
    assert {s["channel"] for s in merged["segments"]} == {0, 1}
    starts = [s["start"] for s in merged["segments"]]
    assert starts == sorted(starts)
    assert [s["id"] for s in merged["segments"]] == list(range(len(merged["segments"])))
    by_channel = {
        ch: [(s["start"], s["text"]) for s in merged["segments"] if s["channel"] == ch]
        for ch in (0, 1)
    }
    assert by_channel[0] == [(s["start"], s["text"]) for s in left["segments"]]
    assert by_channel[1] == [(s["start"], s["text"]) for s in right["segments"]]


@pytest.mark.parametrize(
    ("container", "codec", "rate"),
    [
        ("wav", "pcm_mulaw", 8000),
        ("wav", "pcm_alaw", 8000),
        ("flac", "flac", 16000),
        ("ogg", "libopus", 16000),
        ("mp3", "libmp3lame", 16000),
        ("ipod", "aac", 16000),  # .m4a
    ],
)
def test_common_formats_decode(server: str, container: str, codec: str, rate: int) -> None:
    pcm = noise(2.0)[:: 16000 // rate].copy()
    body = verbose(server, "tiny-wenet", encode(pcm, container, codec, rate))
    assert body["duration"] == pytest.approx(2.6, abs=0.1)
    assert body["segments"]


def test_translation_needs_a_model_that_can_translate(server: str) -> None:
    r = post_audio(server, SPEECH, endpoint="translations", model="tiny-whisper")
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["text"], str)
    r = post_audio(
        server, SPEECH, endpoint="translations", model="tiny-wenet", response_format="verbose_json"
    )
    assert r.status_code == 400
    assert "cannot translate" in r.json()["error"]["message"]


def test_post_processing_can_be_turned_off(server: str) -> None:
    off = verbose(server, "tiny-wenet", itn="false", entities="false")
    assert off["text"] == off["raw_text"]
    assert off["entities"] == []
    r = post_audio(server, SPEECH, model="tiny-wenet", itn="maybe")
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "itn"


def test_missing_model_is_404_naming_the_pull_command(server: str) -> None:
    r = post_audio(server, SPEECH, model="acme-recognizer")
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "model_not_found"
    assert "mediaserver pull acme-recognizer" in error["message"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"#EXTM3U\nhttp://example.com/a.mp3\n", "text"),
        (b"\x00\x01garbage" * 100, "not a readable audio file"),
        (b"", "empty"),
    ],
)
def test_undecodable_audio_is_400_with_a_reason(server: str, data: bytes, reason: str) -> None:
    r = post_audio(server, data, model="tiny-wenet")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_audio"
    assert reason in r.json()["error"]["message"]


def test_bad_fields_are_400_naming_the_field(server: str) -> None:
    for fields, param in (
        ({"response_format": "docx"}, "response_format"),
        ({"temperature": "hot"}, "temperature"),
        ({"channel": "left"}, "channel"),
    ):
        r = post_audio(server, SPEECH, model="tiny-wenet", **fields)
        assert r.status_code == 400
        assert r.json()["error"]["param"] == param
    r = httpx.post(
        f"{server}/v1/audio/transcriptions",
        data={"model": "tiny-wenet"},
        files={"notes": ("notes.txt", b"not the audio")},
        timeout=30,
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "file"
    r = httpx.post(f"{server}/v1/audio/transcriptions", json={"model": "tiny-wenet"}, timeout=30)
    assert r.status_code == 415


def test_upload_over_the_limit_is_413(server: str) -> None:
    big = wav_bytes(np.zeros(MAX_UPLOAD_BYTES // 2 + 16_000, np.int16))
    r = post_audio(server, big, model="tiny-wenet")
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "upload_too_large"


def test_upload_limit_holds_without_content_length(server: str) -> None:
    """A chunked body announces no size: it is cut off as it streams in."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield head
        chunk = b"\x00" * 65536
        for _ in range(4 * MAX_UPLOAD_BYTES // len(chunk)):
            sent += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        r = httpx.post(
            f"{server}/v1/audio/transcriptions",
            content=body(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            timeout=60,
        )
    except httpx.TransportError:
        pass  # the server may close the connection before reading the rest: also a refusal
    else:
        assert r.status_code == 413


def test_models_lists_installed_and_loaded(
    server: str, capsys: pytest.CaptureFixture[str], models_dir: Path
) -> None:
    verbose(server, "tiny-wenet")
    installed = httpx.get(f"{server}/v1/models", timeout=10).json()["data"]
    assert {"tiny-whisper", "tiny-wenet"} <= {m["id"] for m in installed}
    assert next(m for m in installed if m["id"] == "tiny-wenet")["status"] == "ready"
    loaded = httpx.get(f"{server}/v1/models", params={"loaded": "true"}, timeout=10).json()["data"]
    wenet = next(m for m in loaded if m["id"] == "tiny-wenet")
    assert wenet["role"] == "batch"  # a file: the model's batch worker, at a lower OS priority
    assert wenet["engine"] == "wenet-ctc"
    assert wenet["type"] == "stt"
    assert wenet["status"] == "ready"
    assert wenet["pid"] > 0
    port = server.rsplit(":", 1)[1]
    settings = load_settings(
        environ={"MEDIASERVER_MODELS_DIR": str(models_dir), "MEDIASERVER_SERVER__PORT": port}
    )

    class Args:
        json = True
        url = None  # the configured server

    assert ps(Args(), settings) == 0  # type: ignore[arg-type]
    shown = json.loads(capsys.readouterr().out)
    assert "tiny-wenet" in {m["id"] for m in shown}


def test_metrics_count_requests_audio_and_errors(server: str) -> None:
    verbose(server, "tiny-wenet")
    post_audio(server, SPEECH, model="not-installed")
    text = httpx.get(f"{server}/metrics", timeout=10).text

    def value(name: str, **labels: str) -> float:
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            if line.startswith(f"{name}{{") and all(p in line for p in want.split(",")):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    assert value("mediaserver_transcription_requests_total", task="transcribe", outcome="ok") >= 1
    assert value("mediaserver_transcription_audio_seconds_total", model="tiny-wenet") >= 2.6
    assert value("mediaserver_transcription_real_time_factor_count", model="tiny-wenet") >= 1
    assert value("mediaserver_api_errors_total", code="model_not_found") >= 1
    assert value("mediaserver_scheduler_queue_wait_seconds_count", priority="batch") >= 1
