"""The life of a worker as a transition table: `ManagedWorker._set_phase` is the only writer."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.STARTING: frozenset({Phase.READY, Phase.RESTARTING, Phase.FAILED, Phase.STOPPING}),
    Phase.READY: frozenset({Phase.RESTARTING, Phase.STOPPING}),
    Phase.RESTARTING: frozenset({Phase.STARTING, Phase.FAILED, Phase.STOPPING}),
    Phase.FAILED: frozenset({Phase.STARTING, Phase.STOPPING}),
    Phase.STOPPING: frozenset({Phase.STOPPED}),
    Phase.STOPPED: frozenset(),
}
