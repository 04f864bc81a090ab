"""A fixed ring of 16 kHz PCM16 audio addressed by absolute sample positions.

Positions count samples since the start of the call (Python ints, so they never wrap); the slot
of position p is p % capacity. Three positions describe the buffer:

    oldest ─── held, may be overwritten ─── fence ─── protected ─── written
    (written - capacity)                 (last commit)            (next write)

Audio after the fence is protected: a write that would overwrite it raises
`RingBufferOverflow` and writes nothing. Audio before the fence stays readable until the ring
wraps over it. `write` reports the moment the protected span reaches the force-commit threshold
so the owner can commit before the ring fills up.

The array is allocated once; a write copies into it with at most two slice assignments.
"""

from __future__ import annotations

import numpy as np

from mediaserver.audio.pcm import Pcm16


class RingBufferOverflow(ValueError):
    """A write would overwrite audio after the fence (not yet committed)."""


class RingBuffer:
    """Preallocated PCM16 ring with a read fence; see the module docstring."""

    __slots__ = ("_capacity", "_data", "_fence", "_threshold", "_written")

    def __init__(self, capacity: int, force_commit_ratio: float = 0.9) -> None:
        if capacity <= 0:
            raise ValueError(f"ring buffer capacity must be positive, got {capacity}")
        if not 0 < force_commit_ratio <= 1:
            raise ValueError(f"force_commit_ratio must be in (0, 1], got {force_commit_ratio}")
        self._capacity = capacity
        self._data: Pcm16 = np.zeros(capacity, dtype=np.int16)
        # Protected samples at which `write` signals a force commit (floor of the ratio).
        self._threshold = max(1, int(capacity * force_commit_ratio))
        self._written = 0
        self._fence = 0

    @property
    def capacity(self) -> int:
        """Samples the ring holds."""
        return self._capacity

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    @property
    def written(self) -> int:
        """Position of the next sample to be written (samples written so far)."""
        return self._written

    @property
    def fence(self) -> int:
        """Last committed position: audio from here to `written` is protected."""
        return self._fence

    @property
    def oldest(self) -> int:
        """Earliest position still held."""
        return max(0, self._written - self._capacity)

    @property
    def uncommitted(self) -> int:
        """Protected samples (between the fence and the write position)."""
        return self._written - self._fence

    @property
    def free(self) -> int:
        """Samples that can be written without touching protected audio."""
        return self._capacity - (self._written - self._fence)

    @property
    def threshold(self) -> int:
        """Protected samples at which a write reports that a force commit is due."""
        return self._threshold

    def write(self, samples: Pcm16) -> bool:
        """Append `samples`; True when this write brought the protected span to the threshold.

        The signal fires once per crossing (the span was below the threshold before the write),
        not on every write while above it, so one slow commit does not cause a burst of them.
        """
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise ValueError(
                f"ring buffer takes 1-D int16 samples, got {samples.ndim}-D {samples.dtype}"
            )
        n = len(samples)
        if n > self.free or not self._capacity:
            raise RingBufferOverflow(
                f"writing {n} samples would overwrite {n - self.free} uncommitted samples "
                f"(fence {self._fence}, written {self._written}, capacity {self._capacity})"
            )
        before = self._written - self._fence
        start = self._written % self._capacity
        first = min(n, self._capacity - start)
        self._data[start : start + first] = samples[:first]
        if first < n:
            self._data[: n - first] = samples[first:]
        self._written += n
        return before < self._threshold <= before + n

    def read(self, start: int, end: int) -> Pcm16:
        """A copy of the samples in [start, end); ValueError unless the whole span is held."""
        if start > end:
            raise ValueError(f"span start {start} is after its end {end}")
        if end > self._written:
            raise ValueError(f"span end {end} is beyond the audio written ({self._written})")
        if start < self.oldest or not self._capacity:
            raise ValueError(f"span start {start} was overwritten (oldest held: {self.oldest})")
        lo = start % self._capacity
        n = end - start
        if lo + n <= self._capacity:
            return self._data[lo : lo + n].copy()
        return np.concatenate((self._data[lo:], self._data[: lo + n - self._capacity]))

    def release(self) -> None:
        """Give the samples' memory back now (the call is over): the ring of a finished call
        must not wait for the garbage collector to find its call's reference cycles, or
        2 MB per recent call stay resident under churn. Reads and writes fail afterwards."""
        self._data = np.zeros(0, dtype=np.int16)
        self._capacity = 0
        self._threshold = 0

    def commit(self, position: int) -> None:
        """Move the fence to `position`: audio before it may be overwritten from now on."""
        if position < self._fence:
            raise ValueError(f"fence cannot move back from {self._fence} to {position}")
        if position > self._written:
            raise ValueError(f"fence {position} is beyond the audio written ({self._written})")
        self._fence = position
