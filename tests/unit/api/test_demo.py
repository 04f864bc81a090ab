from __future__ import annotations

from starlette.testclient import TestClient

from mediaserver.app import create_app
from mediaserver.config import Settings


def test_demo_page_and_script_are_served(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script src="/static/app.js"></script>' in page.text
        for element in (
            'id="start"',
            'id="stop"',
            'id="state"',
            'id="partial"',
            'id="finals"',
            'id="log"',
            'id="speak-text"',
            'id="speak"',
            'id="speak-cancel"',
            'id="remote"',
            'id="model"',
            'id="language"',
            'id="api-key"',
            'id="error"',
        ):
            assert element in page.text
        script = client.get("/static/app.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert "window.mediaserverEvents" in script.text
        assert "/v1/webrtc/offer" in script.text
        assert "tts.speak" in script.text
        assert "/v1/models" in script.text  # the pickers
        assert "Authorization" in script.text  # the key goes in a header, never in a URL
        assert "api_key=" not in script.text
        assert 'direction: "sendrecv"' in script.text  # the server's speech comes back
        assert "default-src 'self'" in script.headers["content-security-policy"]
