"""POST /v1/calls/{id}/speak and /speak/cancel through the real app and call manager."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mediaserver.app import create_app
from mediaserver.calls.manager import Call, CallManager, Transport, TransportInfo
from mediaserver.config import Settings
from mediaserver.transports.pacing import FramePacer
from tests.unit.calls.speaker_fakes import ToneSynthesizer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def manager(client: TestClient) -> CallManager:
    calls: CallManager = client.app.state.runtime.calls  # type: ignore[attr-defined]
    return calls


def create(client: TestClient, frames: list[bytes] | None) -> Call:
    async def run() -> Call:
        out = None if frames is None else (lambda: FramePacer(8000, frames.append))
        info = TransportInfo(codec="slin", audio_out=out)
        return manager(client).create(Transport.AUDIOSOCKET, {}, info)

    assert client.portal is not None
    return client.portal.call(run)


def test_speak_queues_and_cancel_stops(client: TestClient) -> None:
    synth = ToneSynthesizer(seconds=3.0)
    manager(client).synthesizer = synth
    frames: list[bytes] = []
    call = create(client, frames)
    first = client.post(f"/v1/calls/{call.id}/speak", json={"text": "Olá!", "voice": "pt-br"})
    assert first.status_code == 202
    body = first.json()
    assert body["queued"] == 1
    assert body["id"].startswith("utt_")
    second = client.post(f"/v1/calls/{call.id}/speak", json={"text": "Mais uma."})
    assert second.json()["queued"] == 2
    cancel = client.post(f"/v1/calls/{call.id}/speak/cancel")
    assert cancel.status_code == 200
    assert cancel.json() == {"cancelled": 2}
    assert client.post(f"/v1/calls/{call.id}/speak/cancel").json() == {"cancelled": 0}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": ""}, "invalid_text"),
        ({"text": "   "}, "invalid_text"),
        ({}, "invalid_text"),
        ({"text": 5}, "invalid_text"),
        ({"text": "oi", "voice": 3}, "invalid_voice"),
        ({"text": "oi", "speed": "fast"}, "invalid_speed"),
        ({"text": "oi", "speed": 9}, "invalid_speak"),
        ({"text": "x" * 5000}, "invalid_speak"),
    ],
)
def test_bad_requests_are_400(client: TestClient, body: object, code: str) -> None:
    manager(client).synthesizer = ToneSynthesizer()
    call = create(client, [])
    r = client.post(f"/v1/calls/{call.id}/speak", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == code


def test_not_json_is_400(client: TestClient) -> None:
    call = create(client, [])
    r = client.post(f"/v1/calls/{call.id}/speak", content=b"{nope")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_json")


def test_unknown_call_is_404(client: TestClient) -> None:
    for path in ("/v1/calls/nope/speak", "/v1/calls/nope/speak/cancel"):
        r = client.post(path, json={"text": "oi"})
        assert (r.status_code, r.json()["error"]["code"]) == (404, "call_not_found")


def test_a_call_without_audio_out_is_409(client: TestClient) -> None:
    call = create(client, None)
    r = client.post(f"/v1/calls/{call.id}/speak", json={"text": "oi"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "no_audio_path")
    assert client.post(f"/v1/calls/{call.id}/speak/cancel").json() == {"cancelled": 0}
