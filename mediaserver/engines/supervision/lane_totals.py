"""A worker's lane counters in Prometheus: its health pings carry totals since it started
(finals decoded greedily, stale partials skipped), and the parent adds what is new."""

from __future__ import annotations

from mediaserver.engines.ipc.client import WorkerHealth
from mediaserver.observability import Metrics


class LaneTotals:
    def __init__(self) -> None:
        self._pid = 0
        self._hurried = 0
        self._skipped = 0

    def observe(self, metrics: Metrics, model: str, health: WorkerHealth) -> None:
        if health.pid != self._pid:  # a new process counts from zero
            self._pid, self._hurried, self._skipped = health.pid, 0, 0
        hurried = health.finals_hurried - self._hurried
        skipped = health.partials_skipped - self._skipped
        self._hurried, self._skipped = health.finals_hurried, health.partials_skipped
        if hurried > 0:
            metrics.finals_hurried.labels(model).inc(hurried)
        if skipped > 0:
            metrics.partials_skipped.labels(model).inc(skipped)
