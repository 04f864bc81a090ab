"""What describes engine workers: what to run for a model, how to supervise it, and what the
supervisor reports about it (`mediaserver ps`, GET /v1/models)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Role = Literal["live", "batch"]  # batch: a model's second worker, for files (see Supervisor)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What to run for one model (built from the model's manifest by the registry)."""

    model: str
    engine: str  # a registered engine name or `module:Factory`
    model_dir: Path
    kind: Literal["stt", "tts"] = "stt"
    config: Mapping[str, Any] = field(default_factory=dict)
    threads: int = 0
    concurrency: int = 1  # requests the worker serves at once (scheduler slots)
    address: str | None = None  # "host:port" of a worker running elsewhere: connect, not spawn
    memory_limit_mb: int = 0  # 0: no limit; above it a local worker is killed and restarted
    role: Role = "live"
    nice: int = 0  # added to a spawned worker's OS niceness

    @property
    def splits_batch(self) -> bool:
        """Whether files get a worker of their own: local STT models only (a remote worker
        and a TTS model keep one worker)."""
        return self.kind == "stt" and self.address is None

    @property
    def label(self) -> str:
        """The worker's name in logs and socket paths (a model may have a batch worker too)."""
        return self.model if self.role == "live" else f"{self.model}+batch"


@dataclass(frozen=True, slots=True)
class SupervisorOptions:
    auto_unload_s: float = 300.0  # idle time before a worker is stopped; 0 = never
    start_timeout_s: float = 120.0  # spawn to model loaded
    health_interval_s: float = 5.0
    health_timeout_s: float = 2.0
    unhealthy_after: int = 2  # missed pings in a row before the worker is killed
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 30.0
    max_rapid_failures: int = 5  # failures within rapid_window_s before giving up
    rapid_window_s: float = 60.0
    failed_cooldown_s: float = 60.0  # a FAILED worker is tried again after this
    drain_timeout_s: float = 10.0  # graceful stop: wait this long for requests in flight
    stop_timeout_s: float = 5.0  # after SIGTERM, before SIGKILL
    max_queued: int = 64  # per priority, per worker
    # Batch-priority STT requests go to a second local worker at this niceness; -1: they
    # share the live worker.
    batch_nice: int = -1
    python: str = sys.executable
    # Workers log like their parent: a quiet CLI has quiet workers, a terminal gets console lines.
    log_level: str = "info"
    log_format: str = "json"


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One row of `mediaserver ps` / GET /v1/models. Times are Unix epoch seconds."""

    model: str
    engine: str
    kind: str
    role: Role
    state: str
    pid: int | None
    address: str | None
    loaded_since: float | None
    last_used: float | None
    restarts: int
    in_flight: int
    queued: int
    rss_bytes: int
    last_error: str
