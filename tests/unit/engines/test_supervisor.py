"""Supervisor logic that needs no worker process (the processes are in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediaserver.config import load_settings
from mediaserver.engines.base import ModelNotFoundError, TranscribeOptions
from mediaserver.engines.errors import ShuttingDown
from mediaserver.engines.supervision.managed import ManagedWorker
from mediaserver.engines.supervision.phases import TRANSITIONS, Phase
from mediaserver.engines.supervision.spec import SupervisorOptions, WorkerSpec
from mediaserver.engines.supervision.supervisor import Supervisor, options_from_settings


def worker(tmp_path: Path, **options: float) -> ManagedWorker:
    spec = WorkerSpec(model="m", engine="tests.fake_engine:FakeEngine", model_dir=tmp_path)
    return ManagedWorker(spec, SupervisorOptions(**options), tmp_path)  # type: ignore[arg-type]


async def test_backoff_doubles_up_to_the_cap_then_gives_up(tmp_path: Path) -> None:
    w = worker(
        tmp_path, backoff_initial_s=0.5, backoff_max_s=3.0, max_rapid_failures=5, rapid_window_s=60
    )
    delays = [w._note_failure() for _ in range(6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, None]


async def test_failures_outside_the_window_are_forgotten(tmp_path: Path) -> None:
    w = worker(tmp_path, backoff_initial_s=1.0, max_rapid_failures=1, rapid_window_s=0.0)
    assert [w._note_failure() for _ in range(3)] == [1.0, 1.0, 1.0]


async def test_every_phase_can_stop_and_stopped_is_final(tmp_path: Path) -> None:
    for phase, targets in TRANSITIONS.items():
        if phase not in (Phase.STOPPING, Phase.STOPPED):
            assert Phase.STOPPING in targets
    assert TRANSITIONS[Phase.STOPPED] == frozenset()
    w = worker(tmp_path)
    with pytest.raises(RuntimeError, match="no transition"):
        w._set_phase(Phase.STOPPED)  # STARTING -> STOPPED skips STOPPING
    assert w.phase == Phase.STARTING


def test_auto_unload_comes_from_the_settings() -> None:
    settings = load_settings(environ={"MEDIASERVER_AUTO_UNLOAD": "0"})
    assert options_from_settings(settings).auto_unload_s == 0
    assert options_from_settings(settings, max_queued=3).max_queued == 3


async def test_unknown_model_fails_before_spawning(tmp_path: Path) -> None:
    def resolve(name: str) -> WorkerSpec:
        raise ModelNotFoundError(name)

    async with Supervisor(resolve, SupervisorOptions(auto_unload_s=0)) as sup:
        with pytest.raises(ModelNotFoundError, match="mediaserver pull nope"):
            await sup.transcribe_file("nope", np.zeros(160, np.float32), TranscribeOptions())
        assert sup.workers() == []
    with pytest.raises(ShuttingDown):
        await sup.load("nope")
