"""What a `Session` tells its shell: small immutable records, returned in the order they happened.

Sample positions are in the call's 16 kHz timeline; `audio_ms` is the same position in
milliseconds (for events that are not about one span: the audio received when it happened).
`CommitSegment` is the one command among them: the shell must get a final transcript for that
span and then call `Session.ack_commit`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mediaserver.audio.events import PIPELINE_RATE
from mediaserver.session.states import CloseReason, SessionState

SAMPLES_PER_MS = PIPELINE_RATE // 1000


def sample_to_ms(sample: int) -> int:
    return sample // SAMPLES_PER_MS


@dataclass(frozen=True, slots=True)
class StateChanged:
    """`session.state`: one transition of the state table."""

    from_state: SessionState
    to_state: SessionState
    audio_ms: int


@dataclass(frozen=True, slots=True)
class HoldEntered:
    """`session.hold`: the call went silent for longer than the silence timeout."""

    audio_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """`vad.speech_start` at `sample` (after clamping to audio that can still be committed)."""

    sample: int
    audio_ms: int


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """`vad.speech_end` at `sample` (exclusive)."""

    sample: int
    audio_ms: int


@dataclass(frozen=True, slots=True)
class CommitSegment:
    """Transcribe [start_sample, end_sample) and make it final; then ack `segment_id`.

    Ids are consecutive from 1 within a call; spans are in order and never overlap.
    """

    segment_id: int
    start_sample: int
    end_sample: int

    @property
    def start_ms(self) -> int:
        return sample_to_ms(self.start_sample)

    @property
    def end_ms(self) -> int:
        return sample_to_ms(self.end_sample)

    @property
    def audio_ms(self) -> int:
        return self.end_ms


@dataclass(frozen=True, slots=True)
class ForceCommit:
    """Speech still going on was cut at `sample` (ring buffer nearly full, or asked to)."""

    sample: int
    audio_ms: int


@dataclass(frozen=True, slots=True)
class CommitAcked:
    """The final for `segment_id` was delivered; audio before `end_sample` is released."""

    segment_id: int
    end_sample: int
    audio_ms: int


@dataclass(frozen=True, slots=True)
class AudioOverrun:
    """Finals lagged a whole ring buffer behind: [start_sample, end_sample) was given up.

    `lost_segments` were committed but never acked; they will not be re-issued, and a final that
    still arrives for one of them is treated as a duplicate.
    """

    start_sample: int
    end_sample: int
    lost_segments: tuple[int, ...]
    audio_ms: int


@dataclass(frozen=True, slots=True)
class Closed:
    """`session.closed`. `unflushed`: segments whose final never came (closing timed out or
    the call failed); `detail` is the code's own reason for a failure, never user content."""

    reason: CloseReason
    audio_ms: int
    unflushed: tuple[int, ...] = ()
    detail: str = ""


Event = (
    StateChanged
    | HoldEntered
    | SpeechStarted
    | SpeechEnded
    | CommitSegment
    | ForceCommit
    | CommitAcked
    | AudioOverrun
    | Closed
)
