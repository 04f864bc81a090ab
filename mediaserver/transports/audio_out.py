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
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

from mediaserver.transports.pacer import RtpSender

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
    failing `send` ends the talkspurt and is reported through `on_error` once.
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
        self._send = send
        self._loop = loop or asyncio.get_running_loop()
        self._frame_s = frame_s
        self._frame_bytes = round(sample_rate * frame_s) * 2
        self._pending = b""
        self._queue: deque[bytes] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._sent_in_spurt = 0
        self._idle_since = 0.0  # end of the last frame sent
        self._drained = asyncio.Event()
        self._drained.set()
        self.frames_sent = 0
        self.send_errors = 0

    @property
    def sample_rate(self) -> int:
        return self._rate

    def write(self, pcm: bytes) -> None:
        if len(pcm) & 1:
            raise ValueError(f"PCM16 input must have an even number of bytes, got {len(pcm)}")
        data = self._pending + pcm
        whole = len(data) - len(data) % self._frame_bytes
        self._pending = data[whole:]
        self._enqueue([data[i : i + self._frame_bytes] for i in range(0, whole, self._frame_bytes)])

    def end(self) -> None:
        if self._pending:
            frame = self._pending + bytes(self._frame_bytes - len(self._pending))
            self._pending = b""
            self._enqueue([frame])

    def cancel(self) -> None:
        self._queue.clear()
        self._pending = b""
        self._stop()

    async def drained(self) -> None:
        await self._drained.wait()

    def _enqueue(self, frames: list[bytes]) -> None:
        if not frames:
            return
        self._queue.extend(frames)
        self._drained.clear()
        if self._timer is None:
            # Never before the end of the previous frame: back-to-back utterances stay paced.
            self._start = max(self._loop.time(), self._idle_since)
            self._sent_in_spurt = 0
            self._tick()

    def _tick(self) -> None:
        self._timer = None
        now = self._loop.time()
        # Everything due goes, late or not: skipping frames would cut the audio.
        while self._queue and self._start + self._sent_in_spurt * self._frame_s <= now:
            frame = self._queue.popleft()
            self._sent_in_spurt += 1
            try:
                self._send(frame)
            except Exception:  # the peer is gone: the rest of this talkspurt has nowhere to go
                self.send_errors += 1
                self._queue.clear()
                break
            self.frames_sent += 1
        if self._queue:
            deadline = self._start + self._sent_in_spurt * self._frame_s
            self._timer = self._loop.call_at(deadline, self._tick)
        else:
            self._idle_since = self._start + self._sent_in_spurt * self._frame_s
            self._stop()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drained.set()
