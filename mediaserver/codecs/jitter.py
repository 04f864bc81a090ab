"""Audio jitter buffer with loss concealment, one per RTP stream; time is passed in.

The buffer maps each packet's RTP timestamp onto a continuous output timeline (samples from
0) and plays that timeline against the caller's clock: ``pop(now)`` returns every frame whose
start time has come, so the output never has a gap. A slot with no packet when its time comes
is concealed: the last frame repeated with a linear fade to silence over ``FADE_MS``, then
silence. After a comfort-noise packet (RTP payload type 13) gaps are plain silence and not
counted as concealment.

Delay: the first packet plays ``target_delay_ms`` after it arrives, and that playout point
holds: packets that arrive early (a sender that sends in bursts, as ``ffmpeg -re`` does, or a
WAN burst after a short stall) simply wait for their slot, up to ``capacity_ms`` of media
ahead of the play position. Only a packet beyond the capacity makes room, by skipping the
oldest buffered audio (``discarded``); memory stays bounded. A packet that misses its slot
makes the buffer grow back to the target (inserting concealment) if what then waits behind
it (the buffered media, or after a stall the packets on time coming with it) stays under
``max_delay_ms``; otherwise it is dropped as late. So a stall costs at most that much added
delay, whatever the capacity. When every packet of a one-second window arrived at least a
frame earlier than needed (a sender clock running fast, delay added by a stall, a late first
packet), one frame is skipped per window, also counted in ``discarded``.

Streams: loss, duplicates and reordering are tracked on 16-bit sequence numbers extended
across wraparound. A new SSRC, a sequence jump (more than 3000 ahead or 100 behind, as in
RFC 3550 A.1) or a timestamp that disagrees with the sequence number by more than a second
starts a new segment: its first packet is placed after everything already buffered, at
least ``target_delay_ms`` ahead, and nothing of the old numbering is reused. Stragglers of
the previous segment are dropped as late.

Input is PCM16 at ``clock_rate`` (decode G.711 before ``push``); frame size follows the
packets (ptime 10-60 ms all work).
"""

from __future__ import annotations

import math
from bisect import insort

import numpy as np

from mediaserver.codecs.jitter_stats import Frame, JitterStats

__all__ = ["COMFORT_NOISE", "FADE_MS", "MAX_CAPACITY_MS", "Frame", "JitterBuffer", "JitterStats"]

COMFORT_NOISE = 13  # RTP payload type of RFC 3389 comfort noise
FADE_MS = 60
MAX_CAPACITY_MS = 10_000

_MAX_DROPOUT = 3000
_MAX_MISORDER = 100
_WINDOW = 128  # sequence numbers remembered for duplicate detection
_WINDOW_MASK = (1 << _WINDOW) - 1
# Samples of float rounding in ``lead`` (computed from the caller's clock) that are not an
# overflow: a packet ending exactly at the capacity fits.
_ROUNDING = 1e-3
_ADAPT_PACKETS = 50  # packets per delay-shrinking window (1 s at 20 ms)


# A queued packet: (timeline position, extended sequence number, pcm, comfort noise). A plain
# tuple: one is built per packet and kept sorted with insort; a NamedTuple costs more.
_Entry = tuple[int, int, bytes, bool]


class JitterBuffer:
    """Reorders, de-duplicates and paces one stream's PCM16 frames; conceals what is missing."""

    def __init__(
        self,
        clock_rate: int,
        frame_samples_hint: int | None = None,
        target_delay_ms: int = 60,
        max_delay_ms: int = 200,
        capacity_ms: int | None = None,
    ) -> None:
        """``capacity_ms`` (default ``max_delay_ms``): how much media may wait ahead of the
        play position; make it large (a second or more) to absorb senders that burst."""
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {clock_rate}")
        if not 0 < target_delay_ms <= max_delay_ms <= 1000:
            raise ValueError(
                "need 0 < target_delay_ms <= max_delay_ms <= 1000, got "
                f"{target_delay_ms} and {max_delay_ms}"
            )
        capacity = max_delay_ms if capacity_ms is None else capacity_ms
        if not max_delay_ms <= capacity <= MAX_CAPACITY_MS:
            raise ValueError(
                f"need max_delay_ms <= capacity_ms <= {MAX_CAPACITY_MS}, got "
                f"{max_delay_ms} and {capacity}"
            )
        self.clock_rate = clock_rate
        self.stats = JitterStats(clock_rate)
        self._target = clock_rate * target_delay_ms // 1000
        self._max = clock_rate * max_delay_ms // 1000
        self._capacity = clock_rate * capacity // 1000
        self._frame = frame_samples_hint or clock_rate // 50
        # The delay moves in steps of a frame, at most the nominal one: senders with large
        # packets (ffmpeg's 1460-byte default) would otherwise conceal 182 ms at a time.
        self._step = self._frame
        self._fade = clock_rate * FADE_MS // 1000
        # 10 ms packets filling the capacity, plus room for reordering.
        self._max_entries = capacity // 10 + 32
        self._origin: float | None = None  # caller time at which output sample 0 plays
        self._play = 0  # next output sample to emit
        self._entries: list[_Entry] = []
        self._tail = 0  # end of the latest packet placed on the timeline
        # Current stream segment.
        self._ssrc = -1
        self._high = 0  # extended sequence number of the highest packet
        self._first = 0  # extended sequence number of the segment's first packet
        self._mask = 0  # bit i set: sequence _high - i was received
        self._anchor_ts = 0  # RTP timestamp of the highest packet ...
        self._anchor_pos = 0  # ... and its place on the output timeline
        self._previous: tuple[int, int] | None = None  # (ssrc, seq) where the last segment ended
        # Adaptation window.
        self._lead_min = math.inf
        self._window = 0
        # Concealment.
        self._last_pcm = b""
        self._conceal_run = 0
        self._comfort_noise = False
        self._refused: tuple[int, float] | None = None  # (sequence, lateness) last dropped late

    def __len__(self) -> int:
        """Packets held (bounded)."""
        return len(self._entries)

    def delay(self, now: float) -> float:
        """Seconds of media buffered ahead of the play position at ``now``."""
        if self._origin is None:
            return 0.0
        return max(0.0, self._tail / self.clock_rate - (now - self._origin))

    def push(
        self,
        sequence_number: int,
        timestamp: int,
        ssrc: int,
        pcm: bytes,
        now: float,
        payload_type: int | None = None,
    ) -> None:
        """Add one packet received at ``now``. For comfort noise (``payload_type`` 13) ``pcm``
        is ignored: the stream is silent from its timestamp until the next packet."""
        comfort_noise = payload_type == COMFORT_NOISE
        size = len(pcm)
        if not comfort_noise and (size == 0 or size & 1):
            raise ValueError(f"PCM16 payload must be a positive even size, got {size} bytes")
        if not 0 <= sequence_number <= 0xFFFF or not 0 <= timestamp <= 0xFFFFFFFF:
            raise ValueError(f"RTP sequence {sequence_number} or timestamp {timestamp} invalid")
        self.stats.received += 1
        if self._origin is None:
            self._origin = now + self._target / self.clock_rate
            self._start_segment(sequence_number, timestamp, ssrc, 0)
            position, sequence = 0, sequence_number
        else:
            delta = ((sequence_number - self._high + 0x8000) & 0xFFFF) - 0x8000
            ts_delta = ((timestamp - self._anchor_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            if (
                ssrc == self._ssrc
                and 0 < delta <= _MAX_DROPOUT
                and abs(ts_delta - delta * self._frame) <= self.clock_rate
            ):
                # The common case, inlined: the next packet of the current stream.
                if delta > 1:
                    self.stats.lost += delta - 1
                self._mask = ((self._mask << delta) | 1) & _WINDOW_MASK
                self._high += delta
                self._anchor_ts = timestamp
                self._anchor_pos += ts_delta
                position, sequence = self._anchor_pos, self._high
            else:
                located = self._locate(sequence_number, timestamp, ssrc, now, delta, ts_delta)
                if located is None:
                    return
                position, sequence = located
        if comfort_noise:
            self._enqueue(position, sequence, b"", 0, True, now)
        else:
            self._frame = size >> 1
            self._enqueue(position, sequence, pcm, self._frame, False, now)

    def _enqueue(
        self,
        position: int,
        sequence: int,
        pcm: bytes,
        samples: int,
        comfort_noise: bool,
        now: float,
    ) -> None:
        """Queue a located packet, adapting the delay when it is late or over capacity."""
        assert self._origin is not None
        lead = position - (now - self._origin) * self.clock_rate
        if position < self._play or lead + samples > self._capacity + _ROUNDING:
            adjusted = self._adjust(position, sequence, samples, lead)
            if adjusted is None:
                return
            position, lead = adjusted
        insort(self._entries, (position, sequence, pcm, comfort_noise))
        if position + samples > self._tail:
            self._tail = position + samples
        if len(self._entries) > self._max_entries:
            del self._entries[0]
            self.stats.discarded += 1
        if lead < self._lead_min:
            self._lead_min = lead
        self._window += 1
        if self._window >= _ADAPT_PACKETS:
            self._adapt()

    def _locate(
        self, sequence_number: int, timestamp: int, ssrc: int, now: float, delta: int, ts_delta: int
    ) -> tuple[int, int] | None:
        """The uncommon cases: a new segment, a duplicate, a packet arriving after a later one.
        Return (timeline position, extended sequence number), or None to drop the packet."""
        if (
            ssrc != self._ssrc
            or not -_MAX_MISORDER <= delta <= _MAX_DROPOUT
            or abs(ts_delta - delta * self._frame) > self.clock_rate
        ):
            position = self._new_segment(sequence_number, timestamp, ssrc, now)
            return None if position is None else (position, self._high)
        stats = self.stats
        behind = -delta  # >= 0: everything ahead took the fast path
        if behind >= _WINDOW:
            stats.late += 1  # too old to tell a duplicate; its slot has long been played
            return None
        if (self._mask >> behind) & 1:
            stats.duplicate += 1
            return None
        self._mask |= 1 << behind
        stats.reordered += 1
        sequence = self._high - behind
        if sequence < self._first:
            stats.lost += self._first - sequence - 1
            self._first = sequence
        else:
            stats.lost -= 1
        return self._anchor_pos + ts_delta, sequence

    def _new_segment(
        self, sequence_number: int, timestamp: int, ssrc: int, now: float
    ) -> int | None:
        previous = self._previous
        if previous is not None and previous[0] == ssrc:
            behind = (previous[1] - sequence_number) & 0xFFFF
            if behind <= _MAX_MISORDER:
                self.stats.late += 1  # a straggler of the segment that just ended
                return None
        assert self._origin is not None
        play_now = (now - self._origin) * self.clock_rate
        position = max(self._tail, math.ceil(play_now) + self._target)
        self._previous = (self._ssrc, self._high & 0xFFFF)
        self._start_segment(sequence_number, timestamp, ssrc, position)
        self.stats.resets += 1
        return position

    def _start_segment(
        self, sequence_number: int, timestamp: int, ssrc: int, position: int
    ) -> None:
        self._ssrc = ssrc
        self._high = self._first = sequence_number
        self._mask = 1
        self._anchor_ts = timestamp
        self._anchor_pos = position

    def _adjust(
        self, position: int, sequence: int, samples: int, lead: float
    ) -> tuple[int, float] | None:
        """A packet behind the play position or beyond the capacity: grow or cut the delay.
        Return its new (position, lead), or None when it is dropped as late."""
        # Partly played (concealed) already and past its time: late too. Trimming it instead
        # would cost a large packet's audio at every read of a slow sender, never growing back.
        if position + samples <= self._play or lead < 0:
            grow = self._round_up(self._target - lead)
            # Everything after it waits ``grow`` longer too: what is buffered, and, when it
            # missed its slot by a frame or more (a stall), the packets sent since, on time
            # right behind it (due at the target). Without them a packet a whole stall late
            # would grow the delay by the stall, and the rest of the stall's burst wait that
            # much longer. Less than a frame late is a slow sender clock or jitter.
            ahead = self._tail - (position - lead)
            late_by = -lead
            if (
                late_by >= self._frame
                and ahead < self._target
                and self._catching_up(sequence, late_by)
            ):
                ahead = self._target
            if ahead + grow > self._max:
                self.stats.late += 1
                self._refused = (sequence, late_by)
                return None
            self._shift(grow)
            return position + grow, lead + grow
        if lead + samples > self._capacity + _ROUNDING:
            # Overflow: skip just enough of the oldest audio to make room. Cutting back to the
            # target would throw away up to a whole capacity of audio at once.
            cut = self._round_up(lead + samples - self._capacity)
            self._shift(-cut)
            return position - cut, lead - cut
        return position, lead  # overlaps the play position: pop plays what is left

    def _catching_up(self, sequence: int, late_by: float) -> bool:
        """Whether a burst may be catching up: no packet just before this one was dropped
        as late by as much. Packets out of a stall arrive together, each a frame less late
        than the one before; a sender that paused without advancing its timestamps resumes
        with every packet as late as the first, and nothing after would ever play."""
        refused = self._refused
        return (
            refused is None or sequence != refused[0] + 1 or late_by < refused[1] - self._step / 2
        )

    def _adapt(self) -> None:
        # One frame per window at most: skipped audio is audible (and lost to speech
        # recognition), so drain a surplus gradually.
        if self._lead_min - self._target >= self._frame:
            self._shift(-self._frame)
        self._lead_min = math.inf
        self._window = 0

    def _round_up(self, samples: float) -> int:
        step = min(self._frame, self._step)
        return max(1, math.ceil(samples / step)) * step

    def _shift(self, samples: int) -> None:
        """Move every queued packet (and the current segment) by ``samples`` on the timeline;
        packets pushed before the play position are discarded."""
        self._anchor_pos += samples
        self._tail += samples
        self._lead_min += samples
        if not self._entries:
            return
        moved = [(p + samples, q, pcm, cn) for p, q, pcm, cn in self._entries]
        self._entries[:] = [e for e in moved if e[0] >= self._play]
        self.stats.discarded += len(moved) - len(self._entries)

    def pop(self, now: float) -> list[Frame]:
        """Every frame whose start time has come by ``now``, in order, without gaps."""
        if self._origin is None:
            return []
        play_now = (now - self._origin) * self.clock_rate
        frames: list[Frame] = []
        entries = self._entries
        play = self._play
        while play <= play_now:
            if entries and entries[0][0] <= play:
                position, _, pcm, comfort_noise = entries.pop(0)
                if comfort_noise:
                    self._comfort_noise = True
                    continue
                self._last_pcm = pcm
                if position < play:  # timestamps overlapping what already played
                    pcm = pcm[(play - position) * 2 :]
                    if not pcm:
                        self.stats.discarded += 1
                        continue
                frames.append(Frame(pcm, play, False))
                self.stats.played += 1
                play += len(pcm) >> 1
                if self._conceal_run:
                    self.stats.gap_samples += self._conceal_run
                    self._conceal_run = 0
                self._comfort_noise = False
            else:
                samples = self._frame
                if entries and entries[0][0] - play < samples:
                    samples = entries[0][0] - play
                frames.append(self._fill(play, samples))
                play += samples
        self._play = play
        return frames

    def _fill(self, position: int, samples: int) -> Frame:
        """A frame for a slot with no media: fading repeat, then silence."""
        if self._comfort_noise:
            return Frame(bytes(samples * 2), position, False)
        self.stats.concealed += 1
        self.stats.concealed_samples += samples
        start = self._conceal_run
        self._conceal_run += samples
        if start >= self._fade or not self._last_pcm:
            return Frame(bytes(samples * 2), position, True)
        last = np.frombuffer(self._last_pcm, dtype="<i2")
        index = np.arange(start, start + samples)
        gain = np.clip(1.0 - index / self._fade, 0.0, 1.0)
        faded = (last[index % last.size] * gain).astype("<i2")
        return Frame(faded.tobytes(), position, True)
