"""Shared fixtures. Tests never read the developer's environment or ~/.cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.config import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={
            "MEDIASERVER_MODELS_DIR": str(tmp_path / "models"),
            # Building NeMo's grammars takes seconds per fresh models directory.
            "MEDIASERVER_POSTPROCESS__NEMO": "false",
        }
    )
