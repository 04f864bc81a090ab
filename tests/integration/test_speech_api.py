"""POST /v1/audio/speech and GET /v1/voices on a real `mediaserver serve`: the builtin espeak-ng
and a tiny random-weight Kokoro (installed with `mediaserver pull kokoro --from DIR`), each in
its own worker process."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from mediaserver.cli import main as cli_main
from tests.integration.transcriptions_support import _environ, running_server
from tests.tiny_kokoro import build_kokoro

pytestmark = pytest.mark.slow

PHRASE = "Seu saldo é R$ 1.234,56. Posso ajudar em algo mais?"
LONG_TEXT = " ".join(
    f"Esta é a frase número {n}, que fala do seu cartão e da sua fatura." for n in range(60)
)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("speech-models")
    source = build_kokoro(root / "src" / "kokoro", size="tiny")
    models = root / "models"
    with _environ({"MEDIASERVER_MODELS_DIR": str(models)}):
        assert cli_main(["pull", "kokoro", "--from", str(source)]) == 0
    return models


@pytest.fixture(scope="module")
def server(models_dir: Path) -> Iterator[str]:
    # No NeMo grammars to build: this server only speaks.
    with _environ({"MEDIASERVER_POSTPROCESS__NEMO": "false"}), running_server(models_dir) as url:
        yield url


def speech(server: str, text: str = PHRASE, **fields: Any) -> httpx.Response:
    return httpx.post(f"{server}/v1/audio/speech", json={"input": text, **fields}, timeout=120)


def decoded_seconds(data: bytes) -> tuple[float, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate, stream.codec_context.sample_rate


def metric(server: str, name: str) -> float:
    for line in httpx.get(f"{server}/metrics", timeout=10).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("opus", "audio/ogg"), ("flac", "audio/flac")],
)
def test_every_format_decodes_to_plausible_speech(server: str, fmt: str, media_type: str) -> None:
    response = speech(server, response_format=fmt, voice="pt-br")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    seconds, rate = decoded_seconds(response.content)
    # ~50 characters of pt-BR, with "mil duzentos e trinta e quatro reais..." said in full.
    assert 3.0 < seconds < 15.0
    assert rate == (48_000 if fmt == "opus" else 22_050)


def test_pcm_is_raw_samples_at_the_announced_rate(server: str) -> None:
    response = speech(server, response_format="pcm")
    assert response.status_code == 200
    rate = int(response.headers["x-sample-rate"])
    assert rate == 22_050
    assert 3.0 < len(response.content) / 2 / rate < 15.0


def test_mp3_is_the_default_format(server: str) -> None:
    response = speech(server, "Bom dia.")
    assert response.headers["content-type"] == "audio/mpeg"
    assert decoded_seconds(response.content)[0] > 0.3


def test_audio_streams_while_the_text_is_synthesized(server: str) -> None:
    """The first clause arrives long before the last: 60 sentences, read as they come."""
    assert speech(server, "Olá, tudo bem?").status_code == 200  # the worker is up
    arrivals: list[float] = []
    start = time.monotonic()
    body = {"input": LONG_TEXT, "response_format": "pcm"}
    with httpx.stream("POST", f"{server}/v1/audio/speech", json=body, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["x-cache"] == "miss"
        size = 0
        for chunk in response.iter_raw():
            arrivals.append(time.monotonic() - start)
            size += len(chunk)
    assert size / 2 / 22_050 > 60  # minutes of speech...
    assert len(arrivals) > 10  # ...sent in many pieces...
    assert arrivals[0] < arrivals[-1] / 2  # ...the first long before the end


def kokoro_in_flight(server: str) -> int:
    models = httpx.get(f"{server}/v1/models", params={"loaded": "true"}, timeout=10).json()
    (kokoro,) = [m for m in models["data"] if m["id"] == "kokoro"]
    return int(kokoro["in_flight"])


def test_kokoro_audio_arrives_while_later_clauses_are_synthesized(server: str) -> None:
    assert speech(server, "Oi.", model="kokoro").status_code == 200  # the worker is up
    text = " ".join(["Olá. Bom dia. Como vai? Tudo bem. Até logo."] * 2)
    body = {"model": "kokoro", "input": text, "voice": "pm_alex", "response_format": "wav"}
    data = b""
    with httpx.stream("POST", f"{server}/v1/audio/speech", json=body, timeout=120) as response:
        assert response.status_code == 200, response.read()
        pieces = response.iter_raw()
        data += next(pieces)
        # The first clause is here; the other nine take the worker a second or more.
        assert kokoro_in_flight(server) == 1
        assert 0 < decoded_seconds(data)[0] < 3.0  # about one short clause
        for piece in pieces:
            data += piece
    seconds, rate = decoded_seconds(data)
    assert rate == 24_000
    assert seconds > 2.0
    assert kokoro_in_flight(server) == 0


def test_a_client_that_hangs_up_frees_the_worker(server: str) -> None:
    assert speech(server, "Oi.", model="kokoro").status_code == 200  # the worker is up
    body = {"model": "kokoro", "input": " ".join(["Olá. Bom dia."] * 30), "response_format": "pcm"}
    with httpx.stream("POST", f"{server}/v1/audio/speech", json=body, timeout=120) as response:
        assert response.status_code == 200
        pieces = response.iter_raw()  # kept: dropping it would close the response now
        assert next(pieces)
        assert kokoro_in_flight(server) == 1
    deadline = time.monotonic() + 4  # 60 clauses take the worker 10 s or more
    while kokoro_in_flight(server):
        assert time.monotonic() < deadline, "the synthesis goes on for a client that left"
        time.sleep(0.05)


def test_repeated_prompt_is_a_cache_hit(server: str) -> None:
    text = "Seu protocolo é 2024 0001."
    hits = metric(server, "mediaserver_tts_cache_hits_total")
    first = speech(server, text, response_format="wav")
    second = speech(server, text, response_format="wav")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert second.content == first.content
    assert metric(server, "mediaserver_tts_cache_hits_total") == hits + 1


def test_warm_up_filled_the_cache_at_start(server: str) -> None:
    deadline = time.monotonic() + 30
    while metric(server, "mediaserver_tts_cache_entries") < 2:  # "Olá", "Um momento, por favor"
        assert time.monotonic() < deadline, "warm-up did not finish"
        time.sleep(0.1)
    misses = metric(server, "mediaserver_tts_cache_misses_total")
    response = speech(server, "Um momento, por favor", response_format="pcm")
    assert response.headers["x-cache"] == "hit"
    assert metric(server, "mediaserver_tts_cache_misses_total") == misses


def test_voices_of_every_installed_tts_model(server: str) -> None:
    data = httpx.get(f"{server}/v1/voices", timeout=30).json()["data"]
    voices = {(v["model"], v["id"]): v for v in data}
    assert voices["espeak-ng", "pt-br"]["language"] == "pt-BR"
    assert voices["kokoro", "pm_alex"] == {
        "object": "voice",
        "model": "kokoro",
        "id": "pm_alex",
        "language": "pt-BR",
        "gender": "male",
    }
    assert voices["kokoro", "pf_dora"]["gender"] == "female"
    only = httpx.get(f"{server}/v1/voices", params={"model": "kokoro"}, timeout=30).json()
    assert {v["id"] for v in only["data"]} == {"pf_dora", "pm_alex", "pm_santa"}


def test_openai_voice_names_are_a_400_listing_ours(server: str) -> None:
    response = speech(server, voice="alloy")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_voice", "voice")
    assert "pt-br" in error["message"]
    assert "GET /v1/voices" in error["message"]
    kokoro = speech(server, model="kokoro", voice="pt-br").json()["error"]
    assert "pf_dora" in kokoro["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": "   "}, "input"),
        ({"input": "a" * 4097}, "input"),
        ({}, "input"),
        ({"input": 5}, "input"),
        ({"input": "Olá", "speed": 4.0}, "speed"),
        ({"input": "Olá", "speed": 0.25}, "speed"),
        ({"input": "Olá", "speed": "fast"}, "speed"),
        ({"input": "Olá", "response_format": "aac"}, "response_format"),
        ({"input": "Olá", "voice": 3}, "voice"),
        ({"input": "Olá", "colour": "blue"}, "colour"),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    server: str, body: dict[str, Any], param: str
) -> None:
    response = httpx.post(f"{server}/v1/audio/speech", json=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_unknown_model_is_404_naming_the_pull_command(server: str) -> None:
    response = speech(server, model="kokoro-en")
    assert response.status_code == 404
    assert "mediaserver pull kokoro-en" in response.json()["error"]["message"]


def test_body_must_be_json(server: str) -> None:
    response = httpx.post(f"{server}/v1/audio/speech", content=b"input=Ola", timeout=30)
    assert response.status_code == 415
    broken = httpx.post(
        f"{server}/v1/audio/speech",
        content=b"{nope",
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert broken.status_code == 400
