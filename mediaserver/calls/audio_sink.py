"""Where a call's outgoing audio goes: the `AudioSink` each transport provides.

A sink takes PCM16 little-endian mono at its own `sample_rate` (the Speaker resamples to it),
cuts it into 20 ms frames and hands frame `n` of a talkspurt to the wire at `start + n * 20 ms`,
armed with `loop.call_at`: timer lateness never accumulates, and a PBX, which plays what it
receives as it receives it, gets neither gaps nor bursts. `cancel` drops everything queued at
once, so playback stops within one frame.

    RTP          `transports.rtp.sender.RtpSink` (G.711/L16 to the latched source)
    AudioSocket  `transports.pacing.FramePacer` -> `AudioSocketConnection.send_audio`
    WS realtime  `transports.pacing.FramePacer` -> binary frames at the session's input rate
    WebRTC       `transports.webrtc_out.SpeakerTrack` (aiortc pulls frames; `recv` paces them)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

FRAME_S: Final = 0.02


class NoAudioPath(Exception):
    """The call cannot play audio now (no RTP source latched yet, the peer is gone)."""


class AudioSink(Protocol):
    @property
    def sample_rate(self) -> int: ...

    def write(self, pcm: bytes) -> None:
        """Queue PCM16 at `sample_rate`; sending starts at once when idle. Never blocks."""

    def end(self) -> None:
        """The utterance is over: the partial frame left is padded with silence and sent."""

    def cancel(self) -> None:
        """Drop everything not yet sent; the next `write` starts a new talkspurt."""

    async def drained(self) -> None:
        """Return once everything queued has been sent (or cancelled)."""


SinkFactory = Callable[[], AudioSink]  # raises NoAudioPath when there is no way out
