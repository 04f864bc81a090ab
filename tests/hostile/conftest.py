"""One real server for the hostile suite (a subprocess with tiny models, an API key and debug
logs to a file), shared by its tests: it must survive all of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaserver.engines.models.manifest import MANIFEST_FILE
from tests.hostile.server import Server, serve
from tests.integration.transcriptions_support import installed_models

BROKEN_MODEL = "broken-model"


@pytest.fixture(scope="session")
def hostile_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny models, plus one whose manifest is garbage (an operator's broken install)."""
    installed = installed_models(tmp_path_factory)
    models = tmp_path_factory.mktemp("hostile-models")
    for model in installed.iterdir():
        (models / model.name).symlink_to(model, target_is_directory=True)
    (models / BROKEN_MODEL).mkdir()
    (models / BROKEN_MODEL / MANIFEST_FILE).write_text("name = [unclosed", encoding="utf-8")
    return models


@pytest.fixture(scope="session")
def server(hostile_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("hostile-log") / "server.log"
    with serve(hostile_models, log) as running:
        yield running
        assert running.alive(), "the server did not survive the hostile suite"
