"""/openapi.json describes exactly the app's routes; /docs renders it without any script."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient

from mediaserver.app import create_app
from mediaserver.config import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    # With keys: the description is public all the same.
    server = dataclasses.replace(settings.server, api_keys=("secret",))
    with TestClient(create_app(dataclasses.replace(settings, server=server))) as client:
        yield client


def test_every_route_is_described_and_nothing_else(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    described = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    routes: set[tuple[str, str]] = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, WebSocketRoute):
            routes.add((route.path, "GET"))
        elif isinstance(route, Route):
            routes.update((route.path, m) for m in (route.methods or ()) if m != "HEAD")
    assert described == routes
    websockets = {p for p, item in spec["paths"].items() if item.get("get", {}).get("x-websocket")}
    assert websockets == {"/v1/calls/{call_id}/events", "/v1/realtime"}


def test_docs_page_is_readable_html_with_no_script(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    assert "<script" not in html
    assert not re.search(r"https?://(?!127\.0\.0\.1)", html)  # nothing from another origin
    for text in ("/v1/audio/transcriptions", "/v1/calls/{call_id}/events", "mediaserver events",
                 "<code>hot_words</code>", "/openapi.json"):  # fmt: skip
        assert text in html
    assert "`" not in html  # every `code` span is rendered as code
