"""CallWatch: latency observations matched on audio positions; lost finals counted."""

from __future__ import annotations

import pytest

from mediaserver.calls.call_watch import CallWatch
from mediaserver.observability import Metrics
from mediaserver.session.call_events import event


def test_latencies_are_matched_on_positions_and_observed_once() -> None:
    metrics = Metrics()
    watch = CallWatch("c", metrics)
    watch.seen(event("vad.speech_start", "c", audio_ms=500), 10.0)
    watch.seen(event("transcript.partial", "c", segment_id=1, text="a", start_ms=500), 10.4)
    watch.seen(event("transcript.partial", "c", segment_id=1, text="a b", start_ms=500), 10.9)
    watch.seen(event("vad.speech_end", "c", audio_ms=2000), 12.0)
    final = {"segment_id": 1, "start_ms": 500, "end_ms": 2000}
    watch.seen(event("transcript.final", "c", **final), 12.25)
    # A cut segment (force commit) has no speech end: not measured.
    watch.seen(event("transcript.final", "c", segment_id=2, start_ms=2000, end_ms=4000), 13.0)
    sample = metrics.registry.get_sample_value
    assert sample("mediaserver_first_partial_latency_seconds_count") == 1
    assert sample("mediaserver_first_partial_latency_seconds_sum") == pytest.approx(0.4)
    assert sample("mediaserver_final_latency_seconds_count") == 1
    assert sample("mediaserver_final_latency_seconds_sum") == pytest.approx(0.25)
    assert sample("mediaserver_final_latency_seconds_bucket", {"le": "0.25"}) == 1


def test_lost_finals_are_counted_by_reason() -> None:
    metrics = Metrics()
    watch = CallWatch("c", metrics)
    lost = {"code": "final_lost", "segment_id": 3, "reason": "closing_timeout"}
    watch.seen(event("error", "c", **lost), 1.0)
    overrun = {"code": "audio_overrun", "lost_segments": [4, 5]}
    watch.seen(event("error", "c", **overrun), 2.0)
    watch.seen(event("error", "c", code="engine_error"), 3.0)
    sample = metrics.registry.get_sample_value
    assert sample("mediaserver_finals_lost_total", {"reason": "closing_timeout"}) == 1
    assert sample("mediaserver_finals_lost_total", {"reason": "audio_overrun"}) == 2
