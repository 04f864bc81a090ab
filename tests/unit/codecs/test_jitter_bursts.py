"""Jitter buffer against senders and networks that deliver packets in bursts.

``ffmpeg -re … -f rtp`` reads its input a few thousand samples at a time and sends each read
at once: with ``-packetsize 172`` a burst of 160-byte packets and a short remainder, by
default one or two large packets (1460 bytes and the rest). Captured on loopback from ffmpeg
5.1: an 8 kHz WAV gives 2048 samples every 256 ms, a 16 kHz one 1024 samples every 128 ms,
espeak-ng's 22.05 kHz output 743 samples every ~93 ms; reads come 2 ms early to 7 ms late.
WAN links deliver in bursts too (radio scheduling, a queue released after a stall).

Early packets must wait for their slot (up to the capacity) instead of being thrown away,
while playout stays at the configured delay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaserver.codecs.jitter import COMFORT_NOISE, JitterBuffer
from tests.unit.codecs.test_jitter import (
    RATE,
    Arrival,
    assert_continuous,
    packet_index,
    play,
    real_indices,
    tone,
)

TARGET_MS, MAX_MS, CAPACITY_MS = 60, 200, 1000


def buffer(capacity_ms: int | None = CAPACITY_MS) -> JitterBuffer:
    return JitterBuffer(RATE, 160, TARGET_MS, MAX_MS, capacity_ms=capacity_ms)


@dataclass
class Burst:
    """A sender that reads ``read_samples`` at a time and sends each read at once, split into
    payloads of at most ``payload`` samples (G.711: one byte per sample)."""

    read_samples: int
    payload: int
    seconds: float = 30.0
    early_ms: float = 2.0  # read pacing error: up to this early ...
    late_ms: float = 7.0  # ... or this late
    skew: float = 0.0  # sender clock rate error: -0.005 sends 0.5 % less media per second
    seed: int = 1

    def arrivals(self) -> list[Arrival]:
        rng = random.Random(self.seed)
        arrivals: list[Arrival] = []
        timestamp = 0
        for read in range(int(self.seconds * RATE / self.read_samples)):
            error = rng.uniform(-self.early_ms, self.late_ms) / 1000
            sent = read * self.read_samples / RATE / (1 + self.skew) + error
            left = self.read_samples
            while left:
                samples = min(left, self.payload)
                index = len(arrivals)
                # 0.05 ms between the packets of one read, as on loopback.
                time = 0.030 + sent + (self.read_samples - left) / self.payload * 5e-5
                pcm = tone(index, samples)
                arrivals.append(Arrival(time, index, index, index, timestamp, 0x77, pcm))
                timestamp += samples
                left -= samples
        return arrivals


FFMPEG = {
    "8k wav, -packetsize 172": Burst(2048, 160),
    "8k wav, default packet size": Burst(2048, 1460),
    "16k wav, -packetsize 172": Burst(1024, 160),
    "22k wav, -packetsize 172": Burst(743, 160),
    "22k wav, default packet size": Burst(743, 1460),
    "10 packets every 200 ms": Burst(1600, 160),
}


@pytest.mark.parametrize("sender", FFMPEG.values(), ids=FFMPEG.keys())
def test_ffmpeg_bursts_play_every_packet_at_the_configured_delay(sender: Burst) -> None:
    arrivals = sender.arrivals()
    jitter = buffer()
    run = play(jitter, arrivals, tick=0.02)

    assert_continuous(run, TARGET_MS)
    stats = jitter.stats
    assert stats.late == stats.discarded == stats.lost == stats.duplicate == 0
    assert stats.played == stats.received == len(arrivals)
    assert stats.gap_samples == 0  # nothing concealed inside the stream
    assert real_indices(run) == list(range(len(arrivals)))
    # Playout stays at the configured delay: the first packet of each read (the one due
    # soonest after it arrives) waits the target delay, give or take the sender's pacing
    # error and one 20 ms tick; the rest of the read waits its turn behind it.
    arrived = {a.index: a.time for a in arrivals}
    first_of_read = {a.index for a in arrivals if a.timestamp % sender.read_samples == 0}
    read_s = sender.read_samples / RATE
    for frame, emitted in zip(run.frames, run.emitted_at, strict=True):
        if frame.concealed:
            continue
        index = packet_index(frame)
        waited = emitted - arrived[index]
        if index in first_of_read:
            assert TARGET_MS - 10 <= waited * 1000 <= TARGET_MS + 10 + 20
        assert waited <= TARGET_MS / 1000 + read_s + 0.03
    assert run.max_delay <= TARGET_MS / 1000 + read_s + 0.01


def test_without_the_capacity_the_same_ffmpeg_stream_loses_a_fifth() -> None:
    # Early packets beyond max_delay_ms skipped (capacity_ms defaults to max_delay_ms): the
    # reason for the capacity.
    arrivals = Burst(2048, 160).arrivals()
    jitter = buffer(capacity_ms=None)
    play(jitter, arrivals, tick=0.02)
    assert jitter.stats.late + jitter.stats.discarded > len(arrivals) / 5


def batched(
    seed: int, seconds: float = 30.0, every: tuple[float, float] = (0.05, 0.15)
) -> list[Arrival]:
    """A radio link that holds packets and delivers what it holds at random intervals
    (``every``), on top of 0-10 ms of ordinary jitter."""
    rng = random.Random(seed)
    releases: list[float] = []
    t = rng.uniform(*every)
    while t < seconds + 1:
        releases.append(t)
        t += rng.uniform(*every)
    arrivals: list[Arrival] = []
    release = 0
    for index in range(int(seconds * 50)):
        ready = index * 0.02 + 0.030 + rng.uniform(0, 0.010)
        while releases[release] < ready:
            release += 1
        time = releases[release] + rng.uniform(0, 1e-4)
        arrivals.append(Arrival(time, index, index, index, index * 160, 0x77, tone(index, 160)))
    return arrivals


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_wan_delivery_in_bursts_loses_under_one_percent(seed: int) -> None:
    arrivals = batched(seed)
    jitter = buffer()
    run = play(jitter, arrivals, tick=0.02)
    assert_continuous(run, TARGET_MS)
    stats = jitter.stats
    assert stats.late + stats.discarded < 0.01 * len(arrivals)
    assert stats.played + stats.late + stats.discarded == len(arrivals)
    indices = real_indices(run)
    assert indices == sorted(set(indices))
    # Bursts wait; the delay does not grow past the bound (give or take the link's jitter).
    assert run.max_delay <= (MAX_MS + 20) / 1000 + 1e-6


def test_wan_bursts_lost_a_fifth_before_the_capacity() -> None:
    # Holds of 100-300 ms: main grew the delay by a whole hold for its oldest packet, then
    # skipped the rest of the burst as "too early". Now only what exceeds the 200 ms budget
    # is late.
    arrivals = batched(2, every=(0.1, 0.3))
    before, after = buffer(capacity_ms=None), buffer()
    play(before, arrivals, tick=0.02)
    play(after, arrivals, tick=0.02)
    lost_before = before.stats.late + before.stats.discarded
    lost_after = after.stats.late + after.stats.discarded
    assert lost_after < 0.03 * len(arrivals) < 0.2 * len(arrivals) < lost_before


def test_a_stall_longer_than_the_budget_does_not_grow_the_delay_by_the_stall() -> None:
    # A 1 s stall, then its 50 packets at once: those more than max_delay - target late are
    # late; the rest play, and packets on time start within max_delay (their frame ends one
    # frame later) although the capacity is 1 s.
    arrivals = []
    for index in range(300):
        held = (150 - index) * 0.02 if 100 <= index < 150 else 0.0
        time = index * 0.02 + 0.030 + held
        arrivals.append(Arrival(time, index, index, index, index * 160, 0x77, tone(index, 160)))
    jitter = buffer()
    run = play(jitter, arrivals)
    assert_continuous(run, TARGET_MS)
    assert run.max_delay <= (MAX_MS + 20) / 1000 + 1e-6
    late = jitter.stats.late
    assert (MAX_MS - TARGET_MS) / 20 - 1 <= 50 - late <= (MAX_MS - TARGET_MS) / 20 + 1
    # The rest all play, but for the frames skipped later to give the added delay back.
    missing = set(range(100 + late, 300)) - set(real_indices(run))
    assert len(missing) == jitter.stats.discarded <= (MAX_MS - TARGET_MS) / 20


@pytest.mark.parametrize("capacity_ms", [None, CAPACITY_MS])
def test_a_sender_resuming_after_a_pause_without_a_timestamp_jump_plays_on(
    capacity_ms: int | None,
) -> None:
    # 2 s of audio, 1 s with no packets, 2 s more with the next sequence number and timestamp
    # (RFC 3550 wants the timestamp to jump; some senders don't). Unlike packets out of a
    # stall, nothing catches up: after the first, every packet is as late, and the delay must
    # grow for them or the rest of the call would be dropped.
    arrivals = []
    for index in range(200):
        time = index * 0.02 + 0.030 + (1.0 if index >= 100 else 0.0)
        arrivals.append(Arrival(time, index, index, index, index * 160, 0x77, tone(index, 160)))
    jitter = buffer(capacity_ms)
    run = play(jitter, arrivals)
    assert_continuous(run, TARGET_MS)
    assert jitter.stats.late <= 1
    assert set(range(101, 200)) <= set(real_indices(run))


@pytest.mark.parametrize("sender", [Burst(160, 160), Burst(480, 480), Burst(2048, 1460)])
def test_a_slow_sender_still_grows_the_delay_back(sender: Burst) -> None:
    # A sender clock 0.5 % slow: its packets come later and later; each one that misses its
    # slot grows the delay back to the target (large packets too), none is dropped as late.
    sender.seconds, sender.skew = 60, -0.005
    arrivals = sender.arrivals()
    jitter = buffer()
    run = play(jitter, arrivals, tick=0.02)
    assert_continuous(run, TARGET_MS)
    assert jitter.stats.late == jitter.stats.discarded == 0
    assert real_indices(run) == list(range(len(arrivals)))
    # What is concealed inside the stream is the 300 ms the sender fell behind, in a few
    # steps back to the target (not a large packet's worth at every read).
    assert jitter.stats.gap_ms <= 300 + 2 * TARGET_MS


def test_a_sender_beyond_the_capacity_loses_only_the_overflow() -> None:
    # 5 s of packets sent at once (ffmpeg without -re): a second of it is kept and plays
    # in order; the oldest of what does not fit is skipped, counted as discarded.
    jitter = buffer()
    for index in range(250):
        jitter.push(index, index * 160, 1, tone(index, 160), 0.0)
        assert jitter.delay(0.0) <= CAPACITY_MS / 1000
    # The first packet plays the target delay after it arrives: what fits is the capacity
    # less that.
    kept = (CAPACITY_MS - TARGET_MS) // 20
    assert jitter.stats.discarded == 250 - kept
    frames = jitter.pop(2.0)
    played = [packet_index(f) for f in frames if not f.concealed]
    assert played == list(range(250 - kept, 250))
    assert jitter.stats.played == len(played)


def test_memory_is_bounded_by_the_capacity_without_pops() -> None:
    jitter = JitterBuffer(RATE, target_delay_ms=60, max_delay_ms=200, capacity_ms=1000)
    for index in range(5000):
        jitter.push(index & 0xFFFF, index * 80, 1, tone(index, 80), index * 0.01)
    assert len(jitter) <= 1000 // 10 + 32


def test_gap_counts_concealment_inside_the_stream_only() -> None:
    jitter = buffer()
    for index in (0, 1, 3, 4):  # packet 2 lost
        jitter.push(index, index * 160, 1, tone(index, 160), index * 0.02)
    jitter.pop(5.0)  # and then the sender stops: silence until the call ends
    stats = jitter.stats
    assert stats.gap_samples == 160
    assert stats.gap_ms == 20.0
    assert stats.concealed_samples > 20 * 160
    assert stats.played == 4


@pytest.mark.parametrize("capacity_ms", [100, 10_001])
def test_capacity_must_cover_the_max_delay(capacity_ms: int) -> None:
    with pytest.raises(ValueError, match="capacity_ms"):
        JitterBuffer(RATE, target_delay_ms=60, max_delay_ms=200, capacity_ms=capacity_ms)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 0xFFFF),  # sequence
            st.integers(0, 0xFFFFFFFF),  # timestamp
            st.sampled_from([1, 2]),  # ssrc
            st.sampled_from([48, 103, 160, 480, 1460]),  # samples, ffmpeg's odd sizes too
            st.floats(0, 0.3),  # time since the previous event
            st.booleans(),  # comfort noise
            st.booleans(),  # pop after this push
        ),
        max_size=80,
    )
)
def test_arbitrary_packet_streams_stay_within_the_capacity(
    events: list[tuple[int, int, int, int, float, bool, bool]],
) -> None:
    jitter = JitterBuffer(RATE, target_delay_ms=40, max_delay_ms=120, capacity_ms=1000)
    now, position = 0.0, 0
    for sequence, timestamp, ssrc, samples, wait, comfort_noise, pop in events:
        now += wait
        payload_type = COMFORT_NOISE if comfort_noise else 0
        jitter.push(sequence, timestamp, ssrc, bytes(2 * samples), now, payload_type)
        assert len(jitter) <= 1000 // 10 + 32
        assert jitter.delay(now) <= 1.0 + 1e-6
        if pop:
            for frame in jitter.pop(now):
                assert frame.timestamp == position
                position += len(frame.pcm) // 2
    stats = jitter.stats
    assert stats.received == len(events)
    assert stats.played + stats.late + stats.duplicate <= stats.received
