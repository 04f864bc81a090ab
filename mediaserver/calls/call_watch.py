"""What a call's events say about the service it got: latency histograms and lost finals.

`CallWatch` sees every event a call publishes, stamped with the server's loop clock when it
went out, and turns them into Prometheus observations:

- `vad.speech_end` -> the `transcript.final` of that segment (matched on the position: the
  final's `end_ms` is the speech end's `audio_ms`); a segment cut while speech goes on (force
  commit, close) has no speech end and is not measured;
- `vad.speech_start` -> the first `transcript.partial` of that utterance (its `start_ms`);
- every final that will never come: `final_lost` errors (the call closed or failed before the
  engine delivered it) and the segments an `audio_overrun` gave up. Each one is logged with its
  segment id, never its text.

Pure bookkeeping on dicts; the metrics object is the only thing it touches.
"""

from __future__ import annotations

from typing import Final

import structlog

from mediaserver.observability import Metrics
from mediaserver.session.call_events import FINAL_LOST, EventDict

log = structlog.get_logger("mediaserver.calls")

OVERRUN: Final = "audio_overrun"


class CallWatch:
    __slots__ = ("_call_id", "_ends", "_metrics", "_starts")

    def __init__(self, call_id: str, metrics: Metrics) -> None:
        self._call_id = call_id
        self._metrics = metrics
        self._starts: dict[int, float] = {}  # utterance start (ms) -> when speech_start went out
        self._ends: dict[int, float] = {}  # segment end (ms) -> when speech_end went out

    def seen(self, item: EventDict, now: float) -> None:
        kind = item["type"]
        if kind == "vad.speech_start":
            self._starts[item["audio_ms"]] = now
        elif kind == "vad.speech_end":
            self._ends[item["audio_ms"]] = now
        elif kind == "transcript.partial":
            started = self._starts.pop(item["start_ms"], None)
            if started is not None:
                self._metrics.first_partial_seconds.observe(now - started)
        elif kind == "transcript.final":
            self._starts.pop(item["start_ms"], None)
            ended = self._ends.pop(item["end_ms"], None)
            if ended is not None:
                self._metrics.final_seconds.observe(now - ended)
        elif kind == "error":
            self._error(item)

    def _error(self, item: EventDict) -> None:
        code = item.get("code")
        if code == FINAL_LOST:
            reason = str(item.get("reason", ""))
            self._metrics.finals_lost.labels(reason=reason).inc()
            segment_id = item.get("segment_id")
            log.warning(
                "call.final_lost", call_id=self._call_id, segment_id=segment_id, reason=reason
            )
        elif code == OVERRUN:
            lost = item.get("lost_segments") or []
            if lost:
                self._metrics.finals_lost.labels(reason=OVERRUN).inc(len(lost))
                log.warning("call.final_lost", call_id=self._call_id, segment_ids=lost, reason=code)
