"""The demo page's setup in headless Chromium: the model and language pickers filled from
/v1/models, the API key field, and errors shown in red (never a green "active" for a call that
cannot transcribe)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from mediaserver.app import create_app
from mediaserver.config import Settings, load_settings
from mediaserver.engines.models.registry import Registry
from tests.e2e.webrtc_chromium import ESPEAK, Chromium, have_chromium, serve, speech_wav
from tests.unit.engines.model_dirs import make_model_dir

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.needs_espeak,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not have_chromium() or ESPEAK is None, reason="needs chromium + espeak-ng"),
]

KEY = "demo-key-1"
SHOWN = """JSON.stringify({
  error: ((e) => (e.hidden ? null : e.innerText))(document.getElementById("error")),
  badge: document.getElementById("state").innerText,
  badgeState: document.getElementById("state").dataset.state,
  models: [...document.getElementById("model").options].map((o) => o.value),
  model: document.getElementById("model").value,
  languages: [...document.getElementById("language").options].map((o) => o.value),
  language: document.getElementById("language").value,
  note: document.getElementById("note").innerText,
})"""


def settings_for(tmp_path: Path, **extra: str) -> Settings:
    return load_settings(
        environ={
            "MEDIASERVER_MODELS_DIR": str(tmp_path / "models"),
            "MEDIASERVER_AUDIOSOCKET__ENABLED": "false",
            "MEDIASERVER_POSTPROCESS__NEMO": "false",
            **extra,
        }
    )


async def shown_until(page: Chromium, check: Any, limit_s: float = 20) -> dict[str, Any]:
    async with asyncio.timeout(limit_s):
        while True:
            try:
                shown: dict[str, Any] = json.loads(await page.evaluate(SHOWN))
            except RuntimeError:  # the page is still loading: its elements are not there yet
                shown = {}
            if shown and check(shown):
                return shown
            await asyncio.sleep(0.1)


async def test_key_field_and_pickers(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, MEDIASERVER_API_KEYS=KEY)
    # An STT model other than the default: the page offers it, and picks it over the missing one.
    Registry.from_settings(settings).import_dir(
        make_model_dir(tmp_path / "src", "faster-whisper"), name="my-whisper"
    )
    mic = speech_wav(tmp_path / "mic.wav", ["Bom dia."], gap_s=0.5)
    async with (
        serve(create_app(settings)) as base,
        Chromium.open(f"{base}/?language=pt", mic.path, tmp_path / "p") as page,
    ):
        # No key yet: the page says what it needs, in red.
        shown = await shown_until(page, lambda s: s["error"] is not None)
        assert "needs an API key" in shown["error"]

        await page.evaluate(
            f"""(() => {{ const f = document.getElementById("api-key");
                f.value = "{KEY}"; f.dispatchEvent(new Event("change")); }})()"""
        )
        shown = await shown_until(page, lambda s: "my-whisper" in s["models"])
        assert shown["error"] is None
        assert shown["models"][0] == ""  # the server default, by name
        assert shown["model"] == "my-whisper"
        assert "faster-whisper-small is not installed" in shown["note"]
        assert shown["language"] == "pt"
        assert {"", "pt", "en"} <= set(shown["languages"])
        label = await page.evaluate('document.getElementById("model").options[0].textContent')
        assert label == f"server default ({settings.models.default_stt})"


async def test_a_call_without_its_model_is_shown_as_an_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)  # nothing installed: the default STT model is missing
    mic = speech_wav(tmp_path / "mic.wav", ["Bom dia."], gap_s=0.5)
    async with (
        serve(create_app(settings)) as base,
        Chromium.open(f"{base}/?autostart=1&language=pt", mic.path, tmp_path / "p") as page,
    ):
        shown = await shown_until(
            page, lambda s: s["badgeState"] == "error" and s["error"] is not None, 40
        )
        assert shown["badge"] == "error"
        assert f"mediaserver pull {settings.models.default_stt}" in shown["error"]
        assert "active" not in shown["badge"]
