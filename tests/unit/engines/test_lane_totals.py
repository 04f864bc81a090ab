"""Workers report lane totals since they started; the parent's counters get what is new."""

from __future__ import annotations

from mediaserver.engines.ipc.client import WorkerHealth
from mediaserver.engines.supervision.lane_totals import LaneTotals
from mediaserver.observability import Metrics


def health(pid: int, hurried: int, skipped: int) -> WorkerHealth:
    return WorkerHealth(
        kind="stt", engine="e", model="m", loaded=True, load_error="", pid=pid, rss_bytes=1,
        active_requests=0, finals_hurried=hurried, partials_skipped=skipped,
    )  # fmt: skip


def counts(metrics: Metrics) -> tuple[float | None, float | None]:
    value = metrics.registry.get_sample_value
    return (
        value("mediaserver_stt_finals_hurried_total", {"model": "m"}),
        value("mediaserver_stt_partials_skipped_total", {"model": "m"}),
    )


def test_pings_add_what_is_new_and_a_restarted_worker_counts_from_zero() -> None:
    metrics, totals = Metrics(), LaneTotals()
    totals.observe(metrics, "m", health(10, 0, 0))
    assert counts(metrics) == (None, None)  # nothing happened: no series yet
    totals.observe(metrics, "m", health(10, 2, 7))
    totals.observe(metrics, "m", health(10, 2, 7))  # the same totals again: nothing added
    totals.observe(metrics, "m", health(10, 3, 9))
    assert counts(metrics) == (3.0, 9.0)
    totals.observe(metrics, "m", health(11, 1, 4))  # restarted: its own totals, from zero
    assert counts(metrics) == (4.0, 13.0)
