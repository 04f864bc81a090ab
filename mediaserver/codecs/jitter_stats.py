"""What the jitter buffer hands out: output frames and its counters."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Frame:
    """Output audio: PCM16 little-endian; ``timestamp`` is its first sample on the output
    timeline; ``concealed`` when synthesised for missing media."""

    pcm: bytes
    timestamp: int
    concealed: bool


@dataclass(slots=True)
class JitterStats:
    """Counters; ``lost`` is RFC 3550's expected minus received (never negative here)."""

    clock_rate: int
    received: int = 0  # every packet pushed, duplicates and late ones included
    lost: int = 0  # sequence numbers never received (so far)
    played: int = 0  # packets that came out as audio (whole or in part)
    late: int = 0  # received after their slot was played and dropped
    duplicate: int = 0
    reordered: int = 0  # arrived after a higher sequence number
    discarded: int = 0  # buffered packets dropped: over capacity, or to shrink the delay
    concealed: int = 0  # frames synthesised for missing media
    concealed_samples: int = 0
    # Concealment that real audio followed: loss inside the stream, without the silence
    # concealed after a sender stops until its call ends.
    gap_samples: int = 0
    resets: int = 0  # new stream segments (SSRC change, sequence or timestamp jump)

    @property
    def concealed_ms(self) -> float:
        return self.concealed_samples * 1000 / self.clock_rate

    @property
    def gap_ms(self) -> float:
        return self.gap_samples * 1000 / self.clock_rate
