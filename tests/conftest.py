"""Shared fixtures. Tests never read the developer's environment or ~/.cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.config import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    environ = {
        "MEDIASERVER_MODELS_DIR": str(tmp_path / "models"),
        # Tests that want the AudioSocket listener enable it on a free port.
        "MEDIASERVER_AUDIOSOCKET__ENABLED": "false",
    }
    return load_settings(environ=environ)
