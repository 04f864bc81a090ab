"""The WebRTC call's outgoing audio: an aiortc track that is also the call's `AudioSink`.

aiortc's sender pulls frames by awaiting `recv()`; each call returns the next 20 ms frame at its
deadline (`start + n * 20 ms`, slept to, never a fixed sleep), silence when nothing is queued,
so the browser's jitter buffer sees one steady stream and TTS needs no talkspurt handling.
Audio is 48 kHz mono: Opus's native rate; aiortc resamples for G.711/G.722 itself.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from typing import Final

from aiortc import MediaStreamTrack
from av import AudioFrame

RATE: Final = 48_000
FRAME_SAMPLES: Final = RATE // 50  # 20 ms
FRAME_BYTES: Final = FRAME_SAMPLES * 2
_TIME_BASE: Final = fractions.Fraction(1, RATE)
_SILENCE: Final = bytes(FRAME_BYTES)


class SpeakerTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[bytes] = deque()
        self._pending = b""
        self._drained = asyncio.Event()
        self._drained.set()
        self._start: float | None = None
        self._frames = 0
        self._pts = 0
        self.speech_frames = 0

    # -- AudioSink ---------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return RATE

    def write(self, pcm: bytes) -> None:
        if len(pcm) & 1:
            raise ValueError(f"PCM16 input must have an even number of bytes, got {len(pcm)}")
        data = self._pending + pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._pending = data[whole:]
        self._queue.extend(data[i : i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES))
        if self._queue:
            self._drained.clear()

    def end(self) -> None:
        if self._pending:
            self._queue.append(self._pending + bytes(FRAME_BYTES - len(self._pending)))
            self._pending = b""
            self._drained.clear()

    def cancel(self) -> None:
        self._queue.clear()
        self._pending = b""
        self._drained.set()

    async def drained(self) -> None:
        await self._drained.wait()

    # -- MediaStreamTrack --------------------------------------------------------------------

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        deadline = self._start + self._frames * 0.02
        delay = deadline - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.2:
            # Far behind (the loop stalled): start the grid again instead of bursting.
            self._start, self._frames = loop.time(), 0
        if self._queue:
            data = self._queue.popleft()
            self.speech_frames += 1
            if not self._queue:
                self._drained.set()
        else:
            data = _SILENCE
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(data)
        frame.sample_rate = RATE
        frame.time_base = _TIME_BASE
        frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        self._frames += 1
        return frame
