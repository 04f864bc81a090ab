"""Output paced from deadlines: item ``n`` of a run handed to the wire at ``start + n * period``.

``DeadlineQueue`` is the clock every outbound path shares (RTP packets, AudioSocket and WS
frames); ``FramePacer`` cuts PCM16 into 20 ms frames on top of it for the transports whose
write takes whole frames.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final

FRAME_S: Final = 0.02


class DeadlineQueue:
    """Items handed to `send` one per `period`: item ``n`` of a run at ``start + n * period``.

    Armed with ``loop.call_at``, so timer lateness never accumulates; everything due goes out,
    late or not (the receiver's jitter buffer absorbs lateness; skipping would cut audio). A
    run never starts before the previous one's last item has finished playing, so back-to-back
    runs stay paced. A failing `send` (the peer is gone) drops the rest of the run and is
    counted in `send_errors`.
    """

    def __init__(
        self,
        send: Callable[[bytes], object],
        period: float,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not period > 0:
            raise ValueError(f"period must be > 0 seconds, got {period}")
        self._send = send
        self.period = period
        self._loop = loop or asyncio.get_running_loop()
        self._queue: deque[bytes] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._start = 0.0  # deadline of item 0 of the current run
        self._sent_in_run = 0
        self.idle_since: float | None = None  # when the last item sent finished playing
        self._drained = asyncio.Event()
        self._drained.set()
        self.sent = 0
        self.send_errors = 0

    @property
    def idle(self) -> bool:
        return self._timer is None and not self._queue

    def __len__(self) -> int:
        return len(self._queue)

    def extend(self, items: list[bytes]) -> None:
        if not items:
            return
        self._queue.extend(items)
        self._drained.clear()
        if self._timer is None:
            self._start = max(self._loop.time(), self.idle_since or 0.0)
            self._sent_in_run = 0
            self._tick()

    def clear(self) -> None:
        """Drop everything not yet sent; the next `extend` starts a new run."""
        self._queue.clear()
        self._stop()

    async def drained(self) -> None:
        await self._drained.wait()

    def _tick(self) -> None:
        self._timer = None
        now = self._loop.time()
        while self._queue and self._start + self._sent_in_run * self.period <= now:
            item = self._queue.popleft()
            self._sent_in_run += 1
            try:
                self._send(item)
            except Exception:  # the peer is gone: the rest of this run has nowhere to go
                self.send_errors += 1
                self._queue.clear()
                break
            self.sent += 1
        if self._queue:
            deadline = self._start + self._sent_in_run * self.period
            self._timer = self._loop.call_at(deadline, self._tick)
        else:
            self.idle_since = self._start + self._sent_in_run * self.period
            self._stop()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drained.set()


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
