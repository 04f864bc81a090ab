"""Shared helpers for the worker integration tests: a supervisor over the scripted engine."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mediaserver.engines.supervision.spec import SupervisorOptions, WorkerSpec
from tests.fake_engine import write_script

FAKE_STT = "tests.fake_engine:FakeEngine"
FAKE_TTS = "tests.fake_engine:FakeTts"
RATE = 16000

FAST = SupervisorOptions(
    auto_unload_s=0,
    start_timeout_s=10,
    health_interval_s=0.2,
    health_timeout_s=0.5,
    backoff_initial_s=0.05,
    backoff_max_s=0.2,
    stop_timeout_s=2,
    drain_timeout_s=5,
)


def silence(seconds: float, dtype: Any = np.float32) -> Any:
    return np.zeros(int(RATE * seconds), dtype=dtype)


def resolver(root: Path, **specs: dict[str, Any]) -> Callable[[str], WorkerSpec]:
    """Models named in `specs` (kwargs: script keys, plus `spec` for WorkerSpec fields)."""

    def resolve(name: str) -> WorkerSpec:
        if name not in specs:
            raise LookupError(name)
        script = dict(specs[name])
        fields = script.pop("spec", {})
        write_script(root / name, **script)
        return WorkerSpec(model=name, engine=FAKE_STT, model_dir=root / name, **fields)

    return resolve


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): count it as gone only once reaped (it must be reaped).
    return True


def kill9(pid: int) -> float:
    os.kill(pid, signal.SIGKILL)
    return time.monotonic()
