"""Outbound RTP: PCM16 cut into 20 ms packets and sent on deadlines.

``RtpPacketizer`` is pure: it turns PCM16 little-endian at the call's rate into RTP packets
with consecutive sequence numbers and timestamps, the marker bit on the first packet of each
talkspurt. ``RtpSender`` sends them to the latched peer from the call's own socket (symmetric
RTP), packet ``n`` of a talkspurt at ``start + n * ptime``, armed with ``loop.call_at``: no
sleep loop, so timer lateness never accumulates into drift.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from mediaserver.codecs.rtp import RtpPacket
from mediaserver.transports.pacing import DeadlineQueue
from mediaserver.transports.rtp.formats import RtpFormat
from mediaserver.transports.rtp.latch import Address

PTIME_S = 0.02


class RtpPacketizer:
    """PCM16 -> RTP packets of ``ptime_ms``; a partial frame waits for more PCM or ``flush``."""

    __slots__ = ("_frame_bytes", "_pending", "format", "samples", "sequence", "ssrc", "timestamp")

    def __init__(
        self,
        fmt: RtpFormat,
        *,
        ssrc: int | None = None,
        sequence: int | None = None,
        timestamp: int | None = None,
        ptime_ms: int = 20,
    ) -> None:
        if not 10 <= ptime_ms <= 60 or ptime_ms % 10:
            raise ValueError(f"ptime_ms must be 10, 20, ... 60, got {ptime_ms}")
        self.format = fmt
        # RFC 3550 section 5.1: random initial values.
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16) if sequence is None else sequence
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp
        self.samples = fmt.sample_rate * ptime_ms // 1000  # per packet
        self._frame_bytes = self.samples * 2
        self._pending = b""

    def packetize(self, pcm: bytes, *, talkspurt_start: bool = False) -> list[bytes]:
        """Packets for every whole frame of ``pending + pcm``; the marker bit goes on the first
        one when ``talkspurt_start``."""
        if len(pcm) & 1:
            raise ValueError(f"PCM16 input must have an even number of bytes, got {len(pcm)}")
        data = self._pending + pcm
        whole = len(data) - len(data) % self._frame_bytes
        self._pending = data[whole:]
        packets = []
        marker = talkspurt_start
        for offset in range(0, whole, self._frame_bytes):
            packets.append(self._packet(data[offset : offset + self._frame_bytes], marker))
            marker = False
        return packets

    def flush(self) -> list[bytes]:
        """The partial frame left over, padded with silence to a whole packet (end of speech)."""
        if not self._pending:
            return []
        frame = self._pending + bytes(self._frame_bytes - len(self._pending))
        self._pending = b""
        return [self._packet(frame, False)]

    def skip(self, samples: int) -> None:
        """Advance the timestamp over a silent gap (nothing sent): RTP time follows real time."""
        if samples < 0:
            raise ValueError(f"cannot skip {samples} samples")
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF

    def _packet(self, frame: bytes, marker: bool) -> bytes:
        packet = RtpPacket(
            self.format.send_payload_type,
            self.sequence,
            self.timestamp,
            self.ssrc,
            marker,
            payload=self.format.encode(frame),
        )
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.samples) & 0xFFFFFFFF
        return bytes(packet)


class RtpSender:
    """Paces one call's outbound packets to one peer on ``start + n * ptime`` deadlines."""

    def __init__(
        self,
        send: Callable[[bytes, Address], None],
        address: Address,
        packetizer: RtpPacketizer,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.address = address
        self.packetizer = packetizer
        self._loop = loop or asyncio.get_running_loop()
        ptime = packetizer.samples / packetizer.format.sample_rate
        self._queue = DeadlineQueue(lambda packet: send(packet, self.address), ptime, self._loop)

    @property
    def packets_sent(self) -> int:
        return self._queue.sent

    @property
    def queued_s(self) -> float:
        """Audio waiting to be sent, in seconds."""
        return len(self._queue) * self._queue.period

    def send(self, pcm: bytes) -> None:
        """Queue PCM16 little-endian at the call's rate; sending starts at once if idle."""
        starting = self._queue.idle
        idle_since = self._queue.idle_since
        if starting and idle_since is not None:
            # RTP time follows real time across the silence between talkspurts.
            gap = max(0.0, self._loop.time() - idle_since)
            self.packetizer.skip(round(gap * self.packetizer.format.sample_rate))
        self._queue.extend(self.packetizer.packetize(pcm, talkspurt_start=starting))

    def end(self) -> None:
        """The utterance is over: send the partial frame left, padded with silence."""
        self._queue.extend(self.packetizer.flush())

    def cancel(self) -> None:
        """Drop everything queued (barge-in); the next ``send`` starts a new talkspurt."""
        self.packetizer.flush()
        self._queue.clear()

    async def drained(self) -> None:
        """Wait until every queued packet has been sent (or cancelled)."""
        await self._queue.drained()

    def close(self) -> None:
        self.cancel()


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
