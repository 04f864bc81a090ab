"""`mediaserver list` and GET /v1/voices tell the same story about voices, and only what is
known: espeak-ng's voices have no declared gender, so the API says null, not "male"."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from mediaserver.app import create_app
from mediaserver.cli import main
from mediaserver.config import Settings


@pytest.mark.needs_espeak
def test_list_and_the_voices_endpoint_agree(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(settings)) as client:
        data = client.get("/v1/voices").json()["data"]
    api = {v["id"] for v in data if v["model"] == "espeak-ng"}
    assert "pt-br" in api
    assert len(api) > 50
    assert {v["gender"] for v in data if v["model"] == "espeak-ng"} == {None}

    capsys.readouterr()  # the app's own log lines
    monkeypatch.setenv("MEDIASERVER_MODELS_DIR", str(settings.models.path))
    assert main(["list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(listed["espeak-ng"]["voices"]) == api
    assert "voices" not in listed.get("faster-whisper-small", {})

    assert main(["list"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[3] == "VOICES"
    row = next(r.split() for r in rows if r.startswith("espeak-ng"))
    assert row[3] == str(len(api))

    assert main(["inspect", "espeak-ng"]) == 0
    assert set(json.loads(capsys.readouterr().out)["voices"]) == api
