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
