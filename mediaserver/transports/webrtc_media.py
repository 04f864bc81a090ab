"""What the WebRTC transport needs around aiortc's media: PCM from decoded frames, the audio
section of an SDP, and RFC 4733 telephone-events taken out of the RTP stream.

aiortc (1.16) neither negotiates nor surfaces telephone-event: its codec table has no entry for
it, so a browser offering it gets an answer without it and never sends DTMF; and were it
negotiated, aiortc's receiver would hand the packets to its decoder thread, which knows no
decoder for them and stops. So this module (1) adds telephone-event to aiortc's codec table
(`register_telephone_event`, once, at the end: never chosen as the voice codec) and (2) wraps one
receiver's packet entry point (`TelephoneEventTap.install`) so telephone-event packets go to our
`DtmfDetector` and never reach aiortc's jitter buffer or decoder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import av
import numpy as np
from aiortc import RTCRtpCodecParameters, RTCRtpReceiver
from aiortc import codecs as aiortc_codecs
from aiortc import sdp as aiortc_sdp
from aiortc.rtp import RtpPacket

from mediaserver.codecs.dtmf import DtmfDetector

TELEPHONE_EVENT = "audio/telephone-event"
# Payload types used only when aiortc writes an offer itself (answers take the offerer's); kept
# clear of aiortc's own dynamic types (96 opus, 97-102 video), which share one BUNDLE space.
_TELEPHONE_EVENT_CODECS = (
    RTCRtpCodecParameters(mimeType=TELEPHONE_EVENT, clockRate=48000, channels=1, payloadType=110),
    RTCRtpCodecParameters(mimeType=TELEPHONE_EVENT, clockRate=8000, channels=1, payloadType=126),
)

PacketHandler = Callable[..., Awaitable[None]]


def register_telephone_event() -> bool:
    """Make aiortc answer telephone-event offers; idempotent. False if this aiortc has no
    receiver entry point to tap (then DTMF stays unnegotiated rather than breaking audio)."""
    if not callable(getattr(RTCRtpReceiver, "_handle_rtp_packet", None)):
        return False
    audio = aiortc_codecs.CODECS["audio"]
    for codec in _TELEPHONE_EVENT_CODECS:
        if not any(c.mimeType == codec.mimeType and c.clockRate == codec.clockRate for c in audio):
            audio.append(codec)
    return True


def frame_to_pcm16(frame: av.AudioFrame) -> bytes:
    """Mono PCM16 little-endian from a decoded frame (s16 packed or planar, any channel count).

    Channels are averaged (not summed) so a mono source sent as stereo keeps its level and a
    loud stereo source cannot clip.
    """
    if frame.format.name not in ("s16", "s16p"):
        raise ValueError(f"audio frame format {frame.format.name!r} is not s16/s16p")
    channels = len(frame.layout.channels)
    n = frame.samples
    # Read the planes in place (to_ndarray copies); `count` skips their alignment padding.
    if frame.format.is_planar:
        parts = [
            np.frombuffer(memoryview(plane), dtype="<i2", count=n)
            for plane in frame.planes[:channels]
        ]
    else:
        packed = np.frombuffer(memoryview(frame.planes[0]), dtype="<i2", count=n * channels)
        parts = [packed[c::channels] for c in range(channels)]
    if channels == 1:
        return parts[0].tobytes()
    total = parts[0].astype(np.int32)
    for part in parts[1:]:
        total += part
    return (total // channels).astype("<i2").tobytes()


@dataclass(frozen=True, slots=True)
class AudioSection:
    """The audio m-line of a session description, as far as this transport cares."""

    codec: str  # first (preferred) codec name: "opus", "PCMU", "PCMA", "G722"
    sample_rate: int
    telephone_event_types: frozenset[int]
    direction: str = "sendrecv"  # as written by the side that wrote the SDP

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")


@dataclass(frozen=True, slots=True)
class SessionSummary:
    audio: tuple[AudioSection, ...]
    has_data_channel: bool


def summarize_sdp(text: str) -> SessionSummary:
    """Parse an SDP just enough to check it; raises ValueError for anything malformed.

    aiortc's parser signals malformed input with assorted exceptions (ValueError, KeyError,
    IndexError, AssertionError...), so every exception from it is reported as a ValueError: the
    text came from the peer.
    """
    try:
        description = aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:
        raise ValueError(f"SDP is malformed ({type(exc).__name__})") from exc
    audio = []
    for media in description.media:
        if media.kind != "audio":
            continue
        # Preference is the order of the m-line's formats (aiortc lists rtpmap lines as read).
        rank = {pt: i for i, pt in enumerate(media.fmt)}
        listed = [c for c in media.rtp.codecs if c.payloadType in rank]
        codecs = sorted(listed, key=lambda c: rank[c.payloadType])
        voice = [c for c in codecs if c.mimeType.lower() != TELEPHONE_EVENT]
        if not voice:
            raise ValueError("SDP audio section has no voice codec")
        events = frozenset(
            c.payloadType
            for c in codecs
            if c.mimeType.lower() == TELEPHONE_EVENT and c.payloadType is not None
        )
        direction = media.direction or "sendrecv"
        audio.append(AudioSection(voice[0].name, voice[0].clockRate, events, direction))
    data = any(m.kind == "application" for m in description.media)
    return SessionSummary(audio=tuple(audio), has_data_channel=data)


class TelephoneEventTap:
    """Takes one receiver's telephone-event packets out of its RTP stream and reports digits.

    The packets it removes share the voice stream's sequence numbers, so later voice packets are
    renumbered to close the gaps: aiortc's jitter buffer would otherwise wait on every gap until
    it overflows, dropping voice and keeping the extra delay for the rest of the call.
    """

    __slots__ = ("_detector", "_on_digit", "_payload_types", "_removed", "malformed")

    def __init__(self, payload_types: frozenset[int], on_digit: Callable[[str], None]) -> None:
        self._payload_types = payload_types
        self._on_digit = on_digit
        self._detector = DtmfDetector()
        self._removed = 0
        self.malformed = 0

    def install(self, receiver: RTCRtpReceiver) -> None:
        deliver: PacketHandler = receiver._handle_rtp_packet

        async def tapped(packet: RtpPacket, arrival_time_ms: int) -> None:
            if packet.payload_type in self._payload_types:
                self.take(packet)
                return
            if self._removed:
                packet.sequence_number = (packet.sequence_number - self._removed) & 0xFFFF
            await deliver(packet, arrival_time_ms=arrival_time_ms)

        # An instance attribute shadows the method: aiortc's DTLS transport looks it up per packet.
        receiver._handle_rtp_packet = tapped  # type: ignore[method-assign]

    def take(self, packet: RtpPacket) -> None:
        self._removed += 1
        try:
            digits = self._detector.feed(packet.timestamp, packet.payload)
        except ValueError:
            self.malformed += 1
            return
        for digit in digits:
            self._on_digit(digit)

    def flush(self) -> None:
        """Report a digit whose end packets never came (the call is ending)."""
        for digit in self._detector.flush():
            self._on_digit(digit)
