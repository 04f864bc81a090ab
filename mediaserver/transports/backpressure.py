"""Backpressure for audio a client pushes faster than real time, with time as an argument.

Two leaky buckets measure the audio received against the wall clock:

- the *rate* bucket drains at ``rate_limit_factor`` seconds of audio per second. It holds the
  audio sent beyond that rate; once it exceeds ``burst_s`` (network jitter delivers a few frames
  at once) the client is over the limit and is told so once (``RATE_LIMITED``). The episode
  ends when the bucket has drained empty, so a client that hovers at the limit is not told
  again every frame.
- the *backlog* bucket drains at real time: it is the audio not yet "due", which the call core
  would have to absorb at once. A frame that would push it past ``max_backlog_s`` is dropped.

Each verdict also says how long the transport should stop reading (``pause_s``), which is how
input beyond the rate is refused at the edge: paused, the socket's buffers fill and TCP slows
the client down, so it costs us neither the parsing of frames it sends 100x too fast nor a
burst of audio the call would have to absorb at once. An accepted frame that leaves more than
``burst_s`` of excess asks for the time the excess takes to drain at ``rate_limit_factor``;
a client that sends at that rate is held there without losing anything. A dropped frame (the
backlog bucket overflowed, when a transport cannot pause) asks for its duration over
``drop_read_factor``, so what is read only to be dropped stays within that many x real time.

Dropped frames are reported in batches: the first drop at once, then at most one report per
``report_interval_s`` (on whichever frame comes next, dropped or not) and the remainder from
``flush``. A client that dumps a long file gets a handful of ``session.frames_dropped`` events,
not thousands.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    ACCEPT = "accept"
    # Accepted, and this frame starts a rate-limit episode: tell the client to slow down.
    RATE_LIMITED = "rate_limited"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class DropReport:
    """Frames dropped since the previous report: ``frames`` of ``audio_s`` seconds in total."""

    frames: int
    audio_s: float


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    # Set when dropped frames are due to be reported now (with this frame's verdict applied).
    report: DropReport | None = None
    # Seconds the transport should stop reading before the next frame (set on drops).
    pause_s: float = 0.0


class Backpressure:
    """Decides, frame by frame, whether audio from one client is accepted."""

    __slots__ = (
        "_backlog_s",
        "_excess_s",
        "_last_now",
        "_last_report",
        "_limited",
        "_pending_audio_s",
        "_pending_frames",
        "burst_s",
        "drop_read_factor",
        "dropped_audio_s",
        "dropped_frames",
        "max_backlog_s",
        "rate_limit_factor",
        "rate_limited_episodes",
        "report_interval_s",
    )

    def __init__(
        self,
        *,
        rate_limit_factor: float = 1.2,
        max_backlog_s: float = 10.0,
        burst_s: float = 0.5,
        report_interval_s: float = 1.0,
        drop_read_factor: float = 10.0,
    ) -> None:
        if rate_limit_factor < 1.0:
            raise ValueError(f"rate_limit_factor must be >= 1.0, got {rate_limit_factor}")
        if drop_read_factor < rate_limit_factor:
            raise ValueError("drop_read_factor must be >= rate_limit_factor")
        if max_backlog_s <= 0 or burst_s <= 0 or report_interval_s <= 0:
            raise ValueError("max_backlog_s, burst_s and report_interval_s must be positive")
        self.rate_limit_factor = rate_limit_factor
        self.max_backlog_s = max_backlog_s
        self.burst_s = burst_s
        self.report_interval_s = report_interval_s
        self.drop_read_factor = drop_read_factor
        self._last_now: float | None = None
        self._excess_s = 0.0
        self._backlog_s = 0.0
        self._limited = False
        self._pending_frames = 0
        self._pending_audio_s = 0.0
        self._last_report: float | None = None
        self.dropped_frames = 0
        self.dropped_audio_s = 0.0
        self.rate_limited_episodes = 0

    @property
    def backlog_s(self) -> float:
        """Audio received ahead of real time at the last `admit` (before any drop)."""
        return self._backlog_s

    @property
    def limited(self) -> bool:
        return self._limited

    def admit(self, duration_s: float, now: float) -> Admission:
        """Account one frame of ``duration_s`` seconds received at ``now`` (monotonic seconds).

        Raises ``ValueError`` for a negative duration or a clock that goes backwards, changing
        nothing.
        """
        if duration_s < 0:
            raise ValueError(f"frame duration must be >= 0, got {duration_s}")
        if self._last_now is not None and now < self._last_now:
            raise ValueError(f"time went backwards: {now} < {self._last_now}")
        elapsed = 0.0 if self._last_now is None else now - self._last_now
        self._last_now = now
        drained = max(0.0, self._excess_s - elapsed * self.rate_limit_factor)
        self._excess_s = drained + duration_s
        self._backlog_s = max(0.0, self._backlog_s - elapsed)
        verdict = self._rate_verdict(drained)
        if self._backlog_s + duration_s > self.max_backlog_s:
            report = self._record_drop(duration_s, now)
            return Admission(Verdict.DROP, report, duration_s / self.drop_read_factor)
        self._backlog_s += duration_s
        pause = max(0.0, self._excess_s - self.burst_s) / self.rate_limit_factor
        return Admission(verdict, self._due_report(now), pause)

    def flush(self, now: float) -> DropReport | None:
        """The drops not reported yet (at the end of a session)."""
        return self._take_report(now) if self._pending_frames else None

    def _rate_verdict(self, drained: float) -> Verdict:
        if self._limited and drained > 0.0:
            # Hysteresis: an episode lasts until the excess sent before this frame has drained.
            return Verdict.ACCEPT
        self._limited = self._excess_s > self.burst_s
        if self._limited:
            self.rate_limited_episodes += 1
            return Verdict.RATE_LIMITED
        return Verdict.ACCEPT

    def _record_drop(self, duration_s: float, now: float) -> DropReport | None:
        self.dropped_frames += 1
        self.dropped_audio_s += duration_s
        self._pending_frames += 1
        self._pending_audio_s += duration_s
        return self._due_report(now)

    def _due_report(self, now: float) -> DropReport | None:
        if not self._pending_frames:
            return None
        if self._last_report is None or now - self._last_report >= self.report_interval_s:
            return self._take_report(now)
        return None

    def _take_report(self, now: float) -> DropReport:
        report = DropReport(self._pending_frames, self._pending_audio_s)
        self._pending_frames = 0
        self._pending_audio_s = 0.0
        self._last_report = now
        return report
