from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mediaserver.session.ring_buffer import RingBuffer, RingBufferOverflow


def ramp(start: int, n: int) -> np.ndarray:
    """Samples whose value encodes their absolute position (mod 2**15)."""
    return (np.arange(start, start + n) % 32768).astype(np.int16)


def test_preallocates_pcm16_and_starts_empty() -> None:
    ring = RingBuffer(60 * 16_000)
    assert ring.nbytes == 60 * 16_000 * 2  # ~1.9 MB
    assert (ring.written, ring.fence, ring.oldest, ring.free) == (0, 0, 0, ring.capacity)


def test_rejects_bad_construction() -> None:
    with pytest.raises(ValueError, match="capacity must be positive"):
        RingBuffer(0)
    with pytest.raises(ValueError, match="force_commit_ratio"):
        RingBuffer(100, force_commit_ratio=0)


def test_wraparound_keeps_absolute_positions() -> None:
    ring = RingBuffer(1000)
    pos = 0
    for size in (300, 300, 300, 300, 250, 700):  # crosses the array end several times
        ring.write(ramp(pos, size))
        pos += size
        ring.commit(pos)
    assert ring.written == pos == 2150
    assert ring.oldest == pos - 1000
    span = ring.read(1400, 2150)  # wraps inside the array: slots 400..999 then 0..149
    assert np.array_equal(span, ramp(1400, 750))
    assert np.array_equal(ring.read(ring.oldest, pos), ramp(ring.oldest, 1000))


def test_read_is_a_copy() -> None:
    ring = RingBuffer(100)
    ring.write(ramp(0, 50))
    span = ring.read(0, 10)
    span[:] = 0
    assert np.array_equal(ring.read(0, 10), ramp(0, 10))


def test_read_rejects_spans_not_held() -> None:
    ring = RingBuffer(100)
    ring.write(ramp(0, 80))
    ring.commit(80)
    ring.write(ramp(80, 80))
    with pytest.raises(ValueError, match="overwritten"):
        ring.read(59, 70)
    assert np.array_equal(ring.read(60, 70), ramp(60, 10))
    with pytest.raises(ValueError, match="beyond the audio written"):
        ring.read(150, 161)
    with pytest.raises(ValueError, match="after its end"):
        ring.read(120, 110)
    assert ring.read(160, 160).shape == (0,)


def test_write_never_overwrites_uncommitted_audio() -> None:
    ring = RingBuffer(100)
    ring.write(ramp(0, 60))
    ring.commit(20)
    assert ring.free == 60
    before = ring.read(20, 60)
    with pytest.raises(RingBufferOverflow, match="overwrite 1 uncommitted"):
        ring.write(ramp(60, 61))
    assert ring.written == 60
    assert np.array_equal(ring.read(20, 60), before)
    assert ring.write(ramp(60, 60))  # fills the ring up to the fence (crossing 90 %)
    assert ring.free == 0
    assert np.array_equal(ring.read(20, 120), ramp(20, 100))


def test_write_rejects_wrong_samples() -> None:
    ring = RingBuffer(100)
    with pytest.raises(ValueError, match="1-D int16"):
        ring.write(np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError, match="2-D int16"):
        ring.write(np.zeros((2, 5), dtype=np.int16))
    assert ring.written == 0


def test_commit_is_monotonic_and_bounded() -> None:
    ring = RingBuffer(100)
    ring.write(ramp(0, 50))
    ring.commit(30)
    ring.commit(30)
    with pytest.raises(ValueError, match="cannot move back from 30 to 29"):
        ring.commit(29)
    with pytest.raises(ValueError, match="beyond the audio written"):
        ring.commit(51)
    assert ring.fence == 30


def test_force_commit_threshold_fires_once_per_crossing_at_90_percent() -> None:
    ring = RingBuffer(1000, force_commit_ratio=0.9)
    assert ring.threshold == 900
    assert not ring.write(ramp(0, 899))
    assert ring.write(ramp(899, 1))  # protected span reaches 90 %
    assert not ring.write(ramp(900, 50))  # still above: no second signal
    ring.commit(900)  # protected span back to 50
    assert not ring.write(ramp(950, 849))
    assert ring.write(ramp(1799, 1))
    # One write may jump over the threshold: it is still a crossing.
    ring.commit(1800)
    assert ring.write(ramp(1800, 950))


def test_steady_state_writes_allocate_nothing() -> None:
    ring = RingBuffer(16_000 * 60)
    chunk = np.ones(16_000, dtype=np.int16)  # a copy of it would be 32 kB
    ring.write(chunk)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(200):  # wraps the ring more than three times
            ring.write(chunk)
            ring.commit(ring.written)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 4096
    assert current - base < 1024
