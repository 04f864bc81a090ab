"""The receiving side of one RTP call, sans-IO: datagrams in, PCM frames and DTMF digits out.

``receive(data, address, now)`` takes one datagram: RTCP (RFC 5761 demultiplexing) is counted
and ignored; anything that does not parse as RTP, or carries a payload type the call did not
agree to, is counted as malformed and dropped before it can take part in latching; the rest
goes through the source latch and then to the DTMF detector or, decoded, to the jitter buffer.
``pop(now)`` returns the PCM16 (little-endian, at the call's rate) whose playout time has come.

RFC 4733 events share the audio stream's sequence numbers, and a sender stops audio while it
sends them; they are also queued in the jitter buffer as comfort noise, so their sequence
numbers do not count as lost and the digit's duration plays as silence, not as concealment.
"""

from __future__ import annotations

from mediaserver.codecs.dtmf import TELEPHONE_EVENT_SIZE, DtmfDetector
from mediaserver.codecs.jitter import COMFORT_NOISE, JitterBuffer
from mediaserver.codecs.rtp import RtpPacket
from mediaserver.transports.rtp.formats import RtpFormat
from mediaserver.transports.rtp.latch import Address, SourceLatch

# Second byte of an RTCP packet (RFC 5761 section 4): packet types 192-223.
_RTCP_TYPES = range(192, 224)


class RtpReceiver:
    __slots__ = (
        "_audio",
        "_dtmf",
        "_jitter",
        "_latch",
        "format",
        "last_packet_at",
        "malformed",
        "received",
        "rtcp",
    )

    def __init__(self, fmt: RtpFormat, latch: SourceLatch[RtpPacket], jitter: JitterBuffer) -> None:
        if jitter.clock_rate != fmt.sample_rate:
            raise ValueError(
                f"jitter buffer runs at {jitter.clock_rate} Hz, the format at {fmt.sample_rate}"
            )
        self.format = fmt
        self._audio = fmt.payload_types
        self._latch = latch
        self._jitter = jitter
        self._dtmf = DtmfDetector()
        self.received = 0  # packets accepted from the latched source
        self.malformed = 0
        self.rtcp = 0
        self.last_packet_at: float | None = None  # time of the last accepted packet

    @property
    def source(self) -> tuple[Address, int] | None:
        """The latched (address, SSRC), once known."""
        return self._latch.source

    def receive(self, data: bytes, address: Address, now: float) -> str:
        """Take one datagram; return the DTMF digits it completed (usually "")."""
        if len(data) > 1 and data[1] in _RTCP_TYPES:
            self.rtcp += 1
            return ""
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            self.malformed += 1
            return ""
        if not self._valid(packet):
            self.malformed += 1
            return ""
        accepted = self._latch.offer(address, packet.ssrc, packet.sequence_number, packet)
        if not accepted:
            return ""
        digits = ""
        for item in accepted:
            digits += self._accept(item, now)
        return digits

    def _valid(self, packet: RtpPacket) -> bool:
        """Cheap checks before latching, so junk can neither latch nor pay for decoding."""
        payload_type = packet.payload_type
        size = len(packet.payload)
        if payload_type in self._audio:
            return size > 0 and not (self.format.codec == "L16" and size & 1)
        if payload_type == self.format.dtmf_payload_type:
            return size >= TELEPHONE_EVENT_SIZE
        return payload_type == COMFORT_NOISE

    def _accept(self, packet: RtpPacket, now: float) -> str:
        self.received += 1
        self.last_packet_at = now
        payload_type = packet.payload_type
        if payload_type in self._audio:
            pcm = self.format.decode(packet.payload)
            self._jitter.push(
                packet.sequence_number, packet.timestamp, packet.ssrc, pcm, now, payload_type
            )
            return ""
        if payload_type == COMFORT_NOISE:
            self._jitter.push(
                packet.sequence_number, packet.timestamp, packet.ssrc, b"", now, COMFORT_NOISE
            )
            return ""
        digits = self._dtmf.feed(packet.timestamp, packet.payload)
        # The event covers [timestamp, timestamp + duration): place its silence at the end.
        duration = (packet.payload[2] << 8) | packet.payload[3]
        self._jitter.push(
            packet.sequence_number,
            (packet.timestamp + duration) & 0xFFFFFFFF,
            packet.ssrc,
            b"",
            now,
            COMFORT_NOISE,
        )
        return digits

    def flush_dtmf(self) -> str:
        """A digit whose end packets never came (call end, media timeout)."""
        return self._dtmf.flush()

    def pop(self, now: float) -> bytes:
        """PCM16 little-endian due by ``now`` (real, concealed or silence); b"" before media."""
        frames = self._jitter.pop(now)
        if not frames:
            return b""
        if len(frames) == 1:
            return frames[0].pcm
        return b"".join(frame.pcm for frame in frames)

    def stats(self) -> dict[str, int | float]:
        jitter = self._jitter.stats
        return {
            "packets_received": self.received,
            "packets_lost": jitter.lost,
            "packets_rejected": self._latch.rejected,
            "packets_malformed": self.malformed,
            "packets_rtcp": self.rtcp,
            "concealed_ms": round(jitter.concealed_ms, 1),
            "concealed_gap_ms": round(jitter.gap_ms, 1),
            "played": jitter.played,
            "late": jitter.late,
            "duplicate": jitter.duplicate,
            "reordered": jitter.reordered,
            "discarded": jitter.discarded,
        }
