"""Failures 2 and 6 on the JSON routes: bodies of any size or depth get a 4xx with a reason,
are never buffered past the limit, and leave the keep-alive connection usable."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
import websockets

from tests.hostile.hostile_files import deep_json
from tests.hostile.server import API_KEY, AUTH, Server, http_request, raw_exchange

DEEP = deep_json(60_000)  # 120 kB; json.loads recursed once per level into RecursionError
DEEP_SMALL = deep_json(30_000)  # 60 kB: under the 64 kB body limit, only the depth is wrong
JSON_ROUTES = ["/v1/calls", "/v1/audio/speech", "/v1/webrtc/offer", "/v1/calls/nope/speak"]


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_deep_json_is_400_and_the_connection_lives_on(server: Server, path: str) -> None:
    answers = raw_exchange(
        server.port, [http_request("POST", path, DEEP_SMALL), http_request("GET", "/health", b"")]
    )
    head, _, body = answers[0].partition(b"\r\n\r\n")
    if path.startswith("/v1/calls/nope"):  # the call is looked up first: 404 is right too
        assert head.startswith(b"HTTP/1.1 404"), answers[0][:300]
    else:
        assert head.startswith(b"HTTP/1.1 400"), answers[0][:300]
        error = json.loads(body)["error"]
        assert error["code"] == "invalid_json"
        assert "nested deeper than" in error["message"]
    assert answers[1].startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("path", JSON_ROUTES[:3])
def test_body_over_the_limit_is_413(server: Server, path: str) -> None:
    r = httpx.post(server.url + path, headers={**AUTH, "content-type": "application/json"},
                   content=DEEP)  # fmt: skip
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "body_too_large"


def test_huge_declared_body_is_refused_before_it_is_sent(server: Server) -> None:
    # 500 MB announced: the answer comes at once, from the headers alone (it used to buffer the
    # whole body: +1 GB RSS).
    before = server.rss_mb()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + API_KEY.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 500000000\r\n\r\n["
        )  # fmt: skip
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert server.rss_mb() - before < 20


def test_streamed_body_without_length_is_cut_at_the_limit(server: Server) -> None:
    before = server.rss_mb()

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(2000):  # 128 MB if it were all read
            yield b" " * 65536

    r = httpx.post(
        f"{server.url}/v1/calls",
        headers={**AUTH, "content-type": "application/json"},
        content=chunks(),
        timeout=30,
    )
    assert r.status_code == 413
    assert server.rss_mb() - before < 20


async def test_deep_json_on_the_realtime_websocket_is_an_error_event(server: Server) -> None:
    url = server.url.replace("http", "ws", 1) + "/v1/realtime?model=tiny-whisper"
    async with websockets.connect(url, additional_headers=AUTH, open_timeout=10) as ws:
        created = json.loads(await ws.recv())
        assert created["type"] == "session.created"
        await ws.send(DEEP_SMALL.decode())
        error = json.loads(await ws.recv())
        assert (error["type"], error["code"]) == ("error", "invalid_json")
        assert "nested deeper than" in error["message"]
        await ws.send(json.dumps({"type": "session.close"}))
        kinds = [json.loads(m)["type"] async for m in ws]
    assert "session.closed" in kinds
    assert server.alive()
