"""Where a call's outgoing audio goes: one `AudioSink` per transport, paced from deadlines.

A sink takes PCM16 little-endian mono at its own `sample_rate` (the Speaker resamples to it),
cuts it into 20 ms frames and hands frame `n` of a talkspurt to the wire at `start + n * 20 ms`,
armed with `loop.call_at`: timer lateness never accumulates, and a PBX, which plays what it
receives as it receives it, gets neither gaps nor bursts. `cancel` drops everything queued at
once, so playback stops within one frame.

    RTP          `RtpSink` over the endpoint's `RtpSender` (G.711/L16 to the latched source)
    AudioSocket  `FramePacer` -> `AudioSocketConnection.send_audio` (slin frames)
    WS realtime  `FramePacer` -> binary frames at the session's input rate
    WebRTC       `webrtc_out.SpeakerTrack` (aiortc pulls frames; its `recv` paces them)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, Protocol

from mediaserver.transports.pacer import DeadlineQueue, RtpSender

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


class RtpSink:
    """The RTP endpoint's deadline-paced sender, as an `AudioSink`."""

    def __init__(self, sender: RtpSender) -> None:
        self._sender = sender

    @property
    def sample_rate(self) -> int:
        return self._sender.packetizer.format.sample_rate

    def write(self, pcm: bytes) -> None:
        self._sender.send(pcm)

    def end(self) -> None:
        self._sender.end()

    def cancel(self) -> None:
        self._sender.cancel()

    async def drained(self) -> None:
        await self._sender.drained()


class FramePacer:
    """PCM16 cut into 20 ms frames, each handed to `send` on its deadline.

    `send(frame)` is the transport's write (an AudioSocket message, a WS binary frame); a
    failing `send` ends the talkspurt and is counted in `send_errors`.
    """

    def __init__(
        self,
        sample_rate: int,
        send: Callable[[bytes], object],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        frame_s: float = FRAME_S,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0 Hz, got {sample_rate}")
        self._rate = sample_rate
        self._frame_bytes = round(sample_rate * frame_s) * 2
        self._pending = b""
        self._queue = DeadlineQueue(send, frame_s, loop)

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def frames_sent(self) -> int:
        return self._queue.sent

    @property
    def send_errors(self) -> int:
        return self._queue.send_errors

    def write(self, pcm: bytes) -> None:
        if len(pcm) & 1:
            raise ValueError(f"PCM16 input must have an even number of bytes, got {len(pcm)}")
        data = self._pending + pcm
        whole = len(data) - len(data) % self._frame_bytes
        self._pending = data[whole:]
        step = self._frame_bytes
        self._queue.extend([data[i : i + step] for i in range(0, whole, step)])

    def end(self) -> None:
        if self._pending:
            frame = self._pending + bytes(self._frame_bytes - len(self._pending))
            self._pending = b""
            self._queue.extend([frame])

    def cancel(self) -> None:
        self._pending = b""
        self._queue.clear()

    async def drained(self) -> None:
        await self._queue.drained()
