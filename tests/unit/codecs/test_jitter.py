"""Jitter buffer driven by a seeded network simulator.

Every packet's PCM carries its own index (each sample = index + 1), so any real frame that
comes out can be traced back to the packet it came from.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaserver.codecs.jitter import COMFORT_NOISE, Frame, JitterBuffer

RATE = 8000


@dataclass(order=True)
class Arrival:
    time: float
    order: int
    index: int = field(compare=False)  # packet index in the sender's stream
    sequence: int = field(compare=False)
    timestamp: int = field(compare=False)
    ssrc: int = field(compare=False)
    pcm: bytes = field(compare=False)
    payload_type: int = field(compare=False, default=0)


@dataclass
class Stream:
    """What the simulated sender and network did."""

    ptime_ms: int = 20
    seconds: float = 10.0
    loss: float = 0.0
    duplicate: float = 0.0
    jitter_ms: float = 0.0  # extra one-way delay, uniform in [0, jitter]
    base_delay_ms: float = 30.0
    skew: float = 0.0  # sender clock rate error: +0.005 sends 0.5 % more media per second
    first_sequence: int = 1000
    first_timestamp: int = 123_456
    ssrc: int = 0x1234
    seed: int = 1
    arrivals: list[Arrival] = field(default_factory=list)
    dropped: set[int] = field(default_factory=set)
    duplicates: int = 0

    @property
    def samples(self) -> int:
        return RATE * self.ptime_ms // 1000

    def build(self) -> Stream:
        rng = random.Random(self.seed)
        count = int(self.seconds * 1000 / self.ptime_ms)
        for index in range(count):
            # Keep the first and last packets: loss is only visible between them.
            if 0 < index < count - 1 and rng.random() < self.loss:
                self.dropped.add(index)
                continue
            copies = 2 if rng.random() < self.duplicate else 1
            self.duplicates += copies - 1
            for _ in range(copies):
                self.add(index, rng)
        return self

    def add(
        self, index: int, rng: random.Random, *, extra_delay: float = 0.0, **overrides: int
    ) -> None:
        sent = index * self.ptime_ms / 1000 / (1 + self.skew)
        delay = (self.base_delay_ms + rng.uniform(0, self.jitter_ms)) / 1000 + extra_delay
        fields = {
            "sequence": (self.first_sequence + index) & 0xFFFF,
            "timestamp": (self.first_timestamp + index * self.samples) & 0xFFFFFFFF,
            "ssrc": self.ssrc,
        } | overrides
        self.arrivals.append(
            Arrival(
                sent + delay, len(self.arrivals), index, pcm=tone(index, self.samples), **fields
            )
        )

    def reordered(self) -> int:
        """Packets (first copies) that arrived after a later packet of the stream."""
        seen: set[int] = set()
        highest, count = -1, 0
        for arrival in sorted(self.arrivals):
            if arrival.index in seen:
                continue
            seen.add(arrival.index)
            count += arrival.index < highest
            highest = max(highest, arrival.index)
        return count


def tone(index: int, samples: int) -> bytes:
    return struct.pack("<h", index + 1) * samples


def packet_index(frame: Frame) -> int:
    return int(struct.unpack_from("<h", frame.pcm)[0]) - 1


@dataclass
class Run:
    frames: list[Frame]
    emitted_at: list[float]
    start: float  # first arrival
    end: float  # last pop
    max_len: int
    max_delay: float


def play(
    buffer: JitterBuffer, arrivals: list[Arrival], *, tick: float = 0.01, tail: float = 0.5
) -> Run:
    """Push every arrival at its time and pop every ``tick`` until ``tail`` after the last."""
    arrivals = sorted(arrivals)
    frames: list[Frame] = []
    emitted_at: list[float] = []
    max_len, max_delay = 0, 0.0
    pending = 0
    now = arrivals[0].time
    end = arrivals[-1].time + tail
    while now <= end:
        while pending < len(arrivals) and arrivals[pending].time <= now:
            a = arrivals[pending]
            buffer.push(a.sequence, a.timestamp, a.ssrc, a.pcm, a.time, payload_type=a.payload_type)
            pending += 1
        max_len = max(max_len, len(buffer))
        max_delay = max(max_delay, buffer.delay(now))
        out = buffer.pop(now)
        frames += out
        emitted_at += [now] * len(out)
        now = round(now + tick, 9)
    return Run(frames, emitted_at, arrivals[0].time, now - tick, max_len, max_delay)


def assert_continuous(run: Run, target_ms: int) -> None:
    position = 0
    for frame in run.frames:
        assert frame.timestamp == position
        assert len(frame.pcm) % 2 == 0
        assert frame.pcm
        position += len(frame.pcm) // 2
    # Output sample 0 plays target_ms after the first arrival; everything whose start time has
    # come by the last pop is out, and nothing more than one frame beyond it.
    elapsed = (run.end - run.start - target_ms / 1000) * RATE
    frame = max(len(f.pcm) // 2 for f in run.frames)
    assert elapsed < position <= elapsed + frame + 1e-6


def in_stream(run: Run) -> list[Frame]:
    """Frames up to the last real one (concealment runs on after the stream ends)."""
    return run.frames[: last_real(run) + 1]


def last_real(run: Run) -> int:
    return max(i for i, f in enumerate(run.frames) if not f.concealed)


def real_indices(run: Run) -> list[int]:
    return [packet_index(f) for f in run.frames if not f.concealed and any(f.pcm)]


@pytest.mark.parametrize("ptime_ms", [10, 20, 30, 60])
@pytest.mark.parametrize("loss", [0.01, 0.05, 0.10, 0.20])
def test_loss_is_concealed_and_counted(loss: float, ptime_ms: int) -> None:
    stream = Stream(ptime_ms=ptime_ms, loss=loss, jitter_ms=10, seed=int(loss * 100) + ptime_ms)
    stream.build()
    buffer = JitterBuffer(RATE, target_delay_ms=60)
    run = play(buffer, stream.arrivals)

    assert_continuous(run, 60)
    stats = buffer.stats
    assert stats.lost == len(stream.dropped) > 0
    assert stats.received == len(stream.arrivals)
    assert stats.late == stats.duplicate == stats.discarded == 0
    # Every packet that arrived played once, in order; each lost slot was concealed.
    delivered = sorted({a.index for a in stream.arrivals})
    assert real_indices(run) == delivered
    # Concealment also runs on after the stream ends, until the last pop.
    after_end = sum(len(f.pcm) // 2 for f in run.frames[last_real(run) + 1 :])
    assert stats.concealed_samples == len(stream.dropped) * stream.samples + after_end
    assert stats.concealed_ms == pytest.approx(
        (len(stream.dropped) * stream.samples + after_end) / 8
    )
    assert sum(f.concealed for f in run.frames) == stats.concealed
    assert run.max_delay <= 0.200
    assert run.max_len <= 200 // ptime_ms + 2


def test_reordering_and_duplicates() -> None:
    stream = Stream(jitter_ms=50, duplicate=0.05, loss=0.02, seed=7).build()
    assert stream.reordered() > 20  # 50 ms of jitter at 20 ms packets reorders plenty
    buffer = JitterBuffer(RATE, target_delay_ms=60, max_delay_ms=200)
    run = play(buffer, stream.arrivals)

    assert_continuous(run, 60)
    stats = buffer.stats
    assert stats.duplicate == stream.duplicates > 0
    assert stats.reordered == stream.reordered()
    assert stats.lost == len(stream.dropped)
    assert stats.late == 0
    indices = real_indices(run)
    assert indices == sorted(set(indices))  # in order, each packet once
    assert len(indices) >= len({a.index for a in stream.arrivals}) - stats.discarded


def test_delay_stays_bounded_when_every_packet_plays() -> None:
    stream = Stream(jitter_ms=40, seed=3).build()
    buffer = JitterBuffer(RATE, target_delay_ms=60, max_delay_ms=200)
    run = play(buffer, stream.arrivals)
    arrival = {a.index: a.time for a in stream.arrivals}
    for frame, emitted in zip(run.frames, run.emitted_at, strict=True):
        if not frame.concealed:
            waited = emitted - arrival[packet_index(frame)]
            assert -1e-9 <= waited <= 0.200 + 0.01
    assert run.max_delay <= 0.200


def test_sequence_wraparound() -> None:
    stream = Stream(first_sequence=65_500, first_timestamp=2**32 - 4000, loss=0.05, seed=11)
    stream.build()
    buffer = JitterBuffer(RATE)
    run = play(buffer, stream.arrivals)
    assert_continuous(run, 60)
    assert buffer.stats.lost == len(stream.dropped)
    assert buffer.stats.resets == 0
    assert real_indices(run) == sorted({a.index for a in stream.arrivals})


def _stream_with_change(**change: int) -> tuple[Stream, JitterBuffer, Run]:
    """250 packets; from index 250 on, the header fields in ``change`` restart."""
    stream = Stream(seconds=10, seed=5)
    rng = random.Random(5)
    for index in range(500):
        overrides = {}
        if index >= 250:
            if "ssrc" in change:
                overrides["ssrc"] = change["ssrc"]
            if "sequence" in change:
                overrides["sequence"] = (change["sequence"] + index - 250) & 0xFFFF
            if "timestamp" in change:
                overrides["timestamp"] = (change["timestamp"] + (index - 250) * 160) & 0xFFFFFFFF
        stream.add(index, rng, **overrides)
    buffer = JitterBuffer(RATE)
    run = play(buffer, stream.arrivals)
    assert_continuous(run, 60)
    return stream, buffer, run


@pytest.mark.parametrize(
    "change",
    [
        {"sequence": 40_000},  # sequence reset, timestamps continue
        {"sequence": 7, "timestamp": 999},  # both restart
        {"ssrc": 0x9999, "sequence": 300, "timestamp": 5_000_000},  # new source
        {"timestamp": 123_456 + 250 * 160 + 5 * RATE},  # timestamp jumps 5 s ahead
        {"timestamp": 123_456 + 250 * 160 - 30 * RATE},  # ... or 30 s back
    ],
)
def test_stream_changes_rebase_without_gaps_or_stale_state(change: dict[str, int]) -> None:
    _, buffer, run = _stream_with_change(**change)
    stats = buffer.stats
    assert stats.resets == 1
    assert stats.lost == stats.late == stats.duplicate == 0
    assert real_indices(run) == list(range(500))
    # The new segment keeps the delay: nothing waits longer than the 200 ms bound.
    assert run.max_delay <= 0.200


def test_straggler_from_the_previous_ssrc_is_dropped_as_late() -> None:
    stream = Stream(seconds=4, seed=2)
    rng = random.Random(2)
    for index in range(200):
        ssrc = 0x1234 if index < 100 else 0x5678
        stream.add(index, rng, ssrc=ssrc, sequence=index if index < 100 else 5000 + index)
    stream.add(95, rng, extra_delay=0.150, sequence=95, ssrc=0x1234)  # late copy, old source
    buffer = JitterBuffer(RATE)
    run = play(buffer, stream.arrivals)
    assert_continuous(run, 60)
    assert buffer.stats.resets == 1
    assert buffer.stats.late == 1
    assert real_indices(run) == list(range(200))


@pytest.mark.parametrize("skew", [0.005, -0.005])
def test_clock_skew_keeps_delay_bounded(skew: float) -> None:
    stream = Stream(seconds=60, skew=skew, jitter_ms=10, seed=9).build()
    buffer = JitterBuffer(RATE, target_delay_ms=60, max_delay_ms=200)
    run = play(buffer, stream.arrivals, tick=0.02)
    assert_continuous(run, 60)
    stats = buffer.stats
    assert stats.lost == 0
    assert run.max_delay <= 0.200
    indices = real_indices(run)
    assert indices == sorted(set(indices))
    drift_ms = abs(skew) * 60 * 1000  # 300 ms of media more (or less) than wall time
    concealed_ms = sum(len(f.pcm) for f in in_stream(run) if f.concealed) / 2 / 8
    if skew > 0:
        # Surplus media is skipped a frame at a time, never much more than the drift.
        assert 0 < stats.discarded * 20 <= drift_ms + 80
        assert concealed_ms <= 80
    else:
        # Missing media is concealed in a few steps back to the target delay.
        assert drift_ms - 60 <= concealed_ms <= drift_ms + 120
        assert stats.late == 0
        assert stats.discarded == 0


def test_comfort_noise_is_silence_not_loss() -> None:
    stream = Stream(seconds=6, seed=4)
    rng = random.Random(4)
    for index in range(100):  # 2 s of speech
        stream.add(index, rng)
    # CN at the start of a 1 s pause (sequence continues, timestamp at the pause) ...
    stream.add(100, rng, sequence=1100, timestamp=123_456 + 100 * 160)
    stream.arrivals[-1].payload_type = COMFORT_NOISE
    stream.arrivals[-1].pcm = b"\x40"  # RFC 3389 noise level, not PCM
    # ... then speech resumes 1 s later with the next sequence number.
    for index in range(150, 250):
        stream.add(index, rng, sequence=1101 + index - 150)
    buffer = JitterBuffer(RATE)
    run = play(buffer, stream.arrivals)
    assert_continuous(run, 60)
    stats = buffer.stats
    assert stats.lost == 0
    assert not any(f.concealed for f in in_stream(run))
    silence = [f for f in in_stream(run) if not any(f.pcm)]
    assert all(not f.concealed for f in silence)
    assert sum(len(f.pcm) // 2 for f in silence) == pytest.approx(RATE, abs=160)


def test_a_packet_later_than_the_max_delay_is_dropped_and_counted_late() -> None:
    stream = Stream(seconds=4, seed=6)
    rng = random.Random(6)
    for index in range(200):
        stream.add(index, rng, extra_delay=0.5 if index == 100 else 0.0)
    buffer = JitterBuffer(RATE, target_delay_ms=60, max_delay_ms=200)
    run = play(buffer, stream.arrivals)
    assert_continuous(run, 60)
    stats = buffer.stats
    assert stats.late == 1
    assert stats.lost == 0  # it was received, just too late
    assert sum(f.concealed for f in in_stream(run)) == 1
    assert 100 not in real_indices(run)


def test_moderately_late_packet_grows_the_delay_instead_of_being_dropped() -> None:
    stream = Stream(seconds=4, seed=6)
    rng = random.Random(6)
    for index in range(200):
        # Packets 100-104 are held up 120 ms (a short network stall), then arrive together.
        stream.add(
            index, rng, extra_delay=0.120 - (index - 100) * 0.02 if 100 <= index < 105 else 0
        )
    buffer = JitterBuffer(RATE, target_delay_ms=60, max_delay_ms=200)
    run = play(buffer, stream.arrivals)
    assert_continuous(run, 60)
    assert buffer.stats.late == 0
    indices = real_indices(run)
    assert set(range(100, 105)) <= set(indices)
    assert any(f.concealed for f in in_stream(run))
    # The surplus delay is given back later, a frame at a time.
    assert indices == sorted(indices)
    assert 200 - len(indices) == buffer.stats.discarded > 0


def test_concealment_fades_the_last_frame_to_silence_within_60_ms() -> None:
    stream = Stream(seconds=2, seed=8)
    rng = random.Random(8)
    for index in range(100):
        if not 50 <= index < 56:  # 120 ms burst loss
            stream.add(index, rng)
    buffer = JitterBuffer(RATE)
    run = play(buffer, stream.arrivals)
    concealed = [f for f in in_stream(run) if f.concealed]
    assert len(concealed) == 6
    assert buffer.stats.lost == 6
    last = struct.unpack("<160h", run.frames[run.frames.index(concealed[0]) - 1].pcm)
    levels = [max(abs(v) for v in struct.unpack("<160h", f.pcm)) for f in concealed]
    assert 0 < levels[0] <= max(last)
    assert levels[0] > levels[1] > levels[2] > 0  # fading over the first 60 ms
    assert levels[3:] == [0, 0, 0]  # then silence


def test_burst_arrival_is_cut_back_to_the_max_delay() -> None:
    stream = Stream(seconds=6, seed=10)
    rng = random.Random(10)
    for index in range(300):
        # A 1 s network stall: packets 100-149 all arrive at once when it clears.
        held = (150 - index) * 0.02 if 100 <= index < 150 else 0.0
        stream.add(index, rng, extra_delay=held)
    buffer = JitterBuffer(RATE, target_delay_ms=60, max_delay_ms=200)
    run = play(buffer, stream.arrivals)
    assert_continuous(run, 60)
    assert run.max_delay <= 0.200 + 1e-9
    assert run.max_len <= 200 // 20 + 2
    assert buffer.stats.discarded > 0
    assert buffer.stats.late > 0


def test_memory_is_bounded_without_pops() -> None:
    buffer = JitterBuffer(RATE, max_delay_ms=200)
    for index in range(5000):
        buffer.push(index & 0xFFFF, index * 160, 1, tone(index, 160), index * 0.02)
    assert len(buffer) <= 200 // 10 + 32
    assert buffer.delay(5000 * 0.02) <= 0.200


def test_pop_before_any_packet_returns_nothing() -> None:
    assert JitterBuffer(RATE).pop(123.0) == []


def test_invalid_input_raises_and_changes_nothing() -> None:
    buffer = JitterBuffer(RATE)
    buffer.push(1, 160, 7, bytes(320), 0.0)
    before = (buffer.stats.received, len(buffer))
    with pytest.raises(ValueError, match="positive even size, got 3"):
        buffer.push(2, 320, 7, b"abc", 0.02)
    with pytest.raises(ValueError, match="positive even size, got 0"):
        buffer.push(2, 320, 7, b"", 0.02)
    with pytest.raises(ValueError, match="sequence 65536"):
        buffer.push(65536, 320, 7, bytes(320), 0.02)
    assert (buffer.stats.received, len(buffer)) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clock_rate": 0}, "clock_rate"),
        ({"clock_rate": 8000, "target_delay_ms": 300, "max_delay_ms": 200}, "target_delay_ms"),
        ({"clock_rate": 8000, "max_delay_ms": 5000}, "max_delay_ms"),
    ],
)
def test_invalid_configuration(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JitterBuffer(**kwargs)


def test_output_timeline_tracks_the_clock_not_the_sender() -> None:
    # Whatever arrives, after T seconds of playout T seconds of audio came out.
    stream = Stream(seconds=5, loss=0.3, jitter_ms=80, duplicate=0.1, seed=12).build()
    buffer = JitterBuffer(RATE, target_delay_ms=40, max_delay_ms=120)
    run = play(buffer, stream.arrivals, tail=2.0)
    assert_continuous(run, 40)
    assert math.isclose(
        sum(len(f.pcm) for f in run.frames) / 2 / RATE,
        run.end - run.start - 0.04,
        abs_tol=0.02,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 0xFFFF),  # sequence
            st.integers(0, 0xFFFFFFFF),  # timestamp
            st.sampled_from([1, 2]),  # ssrc
            st.sampled_from([80, 160, 240, 480]),  # samples
            st.floats(0, 0.2),  # time since the previous event
            st.booleans(),  # comfort noise
            st.booleans(),  # pop after this push
        ),
        max_size=80,
    )
)
def test_arbitrary_packet_streams_keep_the_invariants(
    events: list[tuple[int, int, int, int, float, bool, bool]],
) -> None:
    buffer = JitterBuffer(RATE, target_delay_ms=40, max_delay_ms=120)
    now, position = 0.0, 0
    for sequence, timestamp, ssrc, samples, wait, comfort_noise, pop in events:
        now += wait
        payload_type = COMFORT_NOISE if comfort_noise else 0
        buffer.push(sequence, timestamp, ssrc, bytes(2 * samples), now, payload_type)
        assert len(buffer) <= 120 // 10 + 32
        assert buffer.delay(now) <= 0.120 + 480 / RATE
        if pop:
            for frame in buffer.pop(now):
                assert frame.timestamp == position
                position += len(frame.pcm) // 2
    stats = buffer.stats
    assert stats.received == len(events)
    assert min(stats.lost, stats.late, stats.duplicate, stats.reordered, stats.discarded) >= 0
