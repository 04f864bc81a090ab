"""RFC 4733 telephone-event payloads and a per-stream DTMF digit detector.

A sender reports one key press as a run of packets that share one RTP timestamp (the event's
start): start/continuation packets whose duration grows, then the end packet (E bit), usually
sent three times. ``DtmfDetector`` turns such runs into one digit each.

Policy: a digit is reported when its first end packet arrives. If the end packets are all lost,
the digit is reported when the next event (a new timestamp) starts, or on ``flush()``.
"""

from __future__ import annotations

from typing import NamedTuple

TELEPHONE_EVENT_SIZE = 4

# RFC 4733 section 3.2: events 0-9 are the digits, 10 is *, 11 is #, 12-15 are A-D.
DTMF_DIGITS = "0123456789*#ABCD"

# A timestamp at most this many ticks behind the current event is a straggler of an event that
# is already finished (e.g. a late copy of its end packet) and is ignored. Farther back means
# the sender restarted its timestamps: a new event. 65536 ticks is 8 s at the usual 8 kHz.
_STRAGGLER_WINDOW = 1 << 16


class TelephoneEvent(NamedTuple):
    """One RFC 4733 event report: ``duration`` is in RTP timestamp units."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Read the first event of a telephone-event payload (extra bytes are ignored)."""
        if len(payload) < TELEPHONE_EVENT_SIZE:
            raise ValueError(
                f"telephone-event payload truncated: {len(payload)} bytes < {TELEPHONE_EVENT_SIZE}"
            )
        flags = payload[1]
        return cls(
            event=payload[0],
            end=bool(flags & 0x80),
            volume=flags & 0x3F,
            duration=(payload[2] << 8) | payload[3],
        )

    def __bytes__(self) -> bytes:
        if not 0 <= self.event <= 255 or not 0 <= self.volume <= 63:
            raise ValueError(f"telephone-event {self.event}/volume {self.volume} out of range")
        if not 0 <= self.duration <= 0xFFFF:
            raise ValueError(f"telephone-event duration {self.duration} out of range 0-65535")
        flags = (0x80 if self.end else 0) | self.volume
        return bytes((self.event, flags, self.duration >> 8, self.duration & 0xFF))

    @property
    def digit(self) -> str | None:
        """The DTMF character for events 0-15, ``None`` for others (flash, tones)."""
        return DTMF_DIGITS[self.event] if self.event < len(DTMF_DIGITS) else None


class DtmfDetector:
    """Digits from one RTP stream's telephone-event packets; pure, no clock.

    ``feed`` returns the digits completed by this packet as a string (usually "" or one
    character; two when a lost end is resolved by an event that itself ends at once).
    """

    __slots__ = ("_digit", "_reported", "_timestamp")

    def __init__(self) -> None:
        self._timestamp: int | None = None  # RTP timestamp of the current event
        self._digit: str | None = None  # its digit; None for ignored events
        self._reported = True

    def feed(self, timestamp: int, payload: bytes) -> str:
        """Take one telephone-event packet (its RTP timestamp and payload)."""
        event = TelephoneEvent.parse(payload)
        timestamp &= 0xFFFFFFFF
        out = ""
        if timestamp != self._timestamp:
            if self._timestamp is not None:
                behind = (self._timestamp - timestamp) & 0xFFFFFFFF
                if behind <= _STRAGGLER_WINDOW:
                    return ""
            out = self.flush()
            self._timestamp = timestamp
            self._digit = event.digit
            self._reported = self._digit is None
        if event.end and not self._reported:
            self._reported = True
            out += self._digit or ""
        return out

    def flush(self) -> str:
        """Report the current event if it started but its end never came (call end, timeout)."""
        if self._reported or self._digit is None:
            return ""
        self._reported = True
        return self._digit

    def reset(self) -> None:
        """Forget the current event without reporting it (new stream, SSRC change)."""
        self._timestamp = None
        self._digit = None
        self._reported = True
