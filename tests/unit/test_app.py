from __future__ import annotations

from starlette.testclient import TestClient

from mediaserver.app import create_app
from mediaserver.config import Settings


def test_health_ready_metrics(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/ready").status_code == 200
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert "mediaserver_hot_word_hits_total" in metrics.text


def test_unknown_route_is_json_error(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        r = client.get("/nope")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"


def test_ready_names_the_installed_models_and_the_missing_default(settings: Settings) -> None:
    # No keys configured (a loopback server): every client sees the detail.
    with TestClient(create_app(settings)) as client:
        body = client.get("/ready").json()
    assert body["status"] == "ready"
    models = body["models"]
    assert models["stt"] == []
    assert "espeak-ng" in models["tts"]
    assert models["default_stt"] == settings.models.default_stt
    assert models["missing"] == [settings.models.default_stt]
    assert models["fix"] == {
        settings.models.default_stt: f"mediaserver pull {settings.models.default_stt}"
    }


def test_startup_log_states_the_models(settings: Settings) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs, TestClient(create_app(settings)):
        pass
    installed = next(e for e in logs if e["event"] == "models.installed")
    assert installed["stt"] == []
    assert "espeak-ng" in installed["tts"]
    (missing,) = [e for e in logs if e["event"] == "models.default_missing"]
    assert missing["model"] == settings.models.default_stt
    assert missing["fix"] == f"mediaserver pull {settings.models.default_stt}"
    assert missing["log_level"] == "warning"
