"""Shared fixtures. Tests never read the developer's environment or ~/.cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from mediaserver.config import Settings, load_settings

# CI runs property tests with a fixed seed so that a landing never depends on luck; locally they
# explore new examples on every run (and keep failures in .hypothesis/ to replay them).
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={
            "MEDIASERVER_MODELS_DIR": str(tmp_path / "models"),
            "MEDIASERVER_JOBS__DIR": str(tmp_path / "jobs"),
            # Building NeMo's grammars takes seconds per fresh models directory.
            "MEDIASERVER_POSTPROCESS__NEMO": "false",
            # Tests that want the AudioSocket listener enable it on a free port.
            "MEDIASERVER_AUDIOSOCKET__ENABLED": "false",
            # No STT model is installed here, and a call whose model is missing is refused:
            # calls that name no model get none (tests that transcribe install and name one).
            "MEDIASERVER_MODELS__DEFAULT_STT": "",
        }
    )
