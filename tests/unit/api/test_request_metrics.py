"""HTTP requests are counted by route template and status; no `_created` series clutter /metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mediaserver.app import create_app
from mediaserver.config import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def count(client: TestClient, route: str, status: int) -> float:
    registry = client.app.state.runtime.metrics.registry  # type: ignore[attr-defined]
    value = registry.get_sample_value(
        "mediaserver_http_requests_total", {"route": route, "status": str(status)}
    )
    return 0.0 if value is None else float(value)


def test_requests_are_counted_by_route_template(client: TestClient) -> None:
    client.get("/health")
    client.get("/health")
    client.get("/v1/calls/abc123")  # 404: no such call
    client.get("/v1/calls/def456")
    client.get("/no/such/path")
    assert count(client, "/health", 200) == 2
    # Ids do not become labels: both land on the template.
    assert count(client, "/v1/calls/{call_id}", 404) == 2
    assert count(client, "unmatched", 404) == 1


def test_refusals_by_the_key_check_are_counted(settings: Settings) -> None:
    import dataclasses

    keyed = dataclasses.replace(
        settings, server=dataclasses.replace(settings.server, api_keys=("k",))
    )
    with TestClient(create_app(keyed)) as client:
        assert client.get("/v1/calls").status_code == 401
        assert client.get("/v1/calls", headers={"Authorization": "Bearer k"}).status_code == 200
        assert count(client, "unmatched", 401) == 1  # refused before routing
        assert count(client, "/v1/calls", 200) == 1


def test_metrics_have_no_created_series(client: TestClient) -> None:
    client.get("/health")
    text = client.get("/metrics", headers={}).text
    assert "mediaserver_http_requests_total{" in text
    assert "_created" not in text
