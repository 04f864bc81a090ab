"""Level stages: DC removal and peak gain normalization, per frame, state carried across frames.

Both run on every 20 ms frame of every call, so they work in place on float32 samples in int16
scale (see `pcm.py`) with a handful of numpy calls per frame and no per-frame allocation beyond
what the int16 wrappers need.
"""

from __future__ import annotations

import math

import numpy as np

from mediaserver.audio.pcm import (
    INT16_FULL_SCALE,
    Pcm16,
    Samples,
    check_pcm16,
    check_rate,
    check_samples,
    to_pcm16,
)

# The recursive filter is evaluated in closed form over blocks of this many samples; a^-n stays
# below ~3000 at 16 kHz (and ~55 at 8 kHz), well inside float64 precision. The live pipeline
# hands over one or two VAD chunks (512 samples) at a time: one block each.
_BLOCK = 1024


class DcBlocker:
    """First-order high-pass filter (RC, -3 dB at `cutoff_hz`) removing DC offset and rumble.

    y[n] = a * (y[n-1] + x[n] - x[n-1]). Unrolled over a block this is
    y[n] = a^(n+1) * (y[-1] + sum_k a^-k * (x[k] - x[k-1])): a cumulative sum instead of a
    Python loop, which is what keeps it cheap without scipy.
    """

    def __init__(self, rate: int, cutoff_hz: float = 20.0) -> None:
        rate = check_rate(rate)
        if not 0.0 < cutoff_hz < rate / 4:
            raise ValueError(f"cutoff_hz must be within (0, {rate / 4}), got {cutoff_hz}")
        self.rate = rate
        self.cutoff_hz = cutoff_hz
        a = 1.0 / (1.0 + 2.0 * math.pi * cutoff_hz / rate)
        n = np.arange(_BLOCK, dtype=np.float64)
        self._grow = a ** (n + 1.0)  # a^(n+1)
        self._shrink = a ** (-n)  # a^-k
        self._scratch = np.empty(_BLOCK, np.float64)
        self._x1 = 0.0  # last input sample of the previous call
        self._y1 = 0.0  # last output sample of the previous call

    def process(self, pcm: Pcm16) -> Pcm16:
        x = check_pcm16(pcm).astype(np.float32)
        return to_pcm16(self.apply(x))

    def apply(self, x: Samples) -> Samples:
        """Filter float32 samples in place and return them."""
        check_samples(x)
        for start in range(0, len(x), _BLOCK):
            self._block(x[start : start + _BLOCK])
        return x

    def _block(self, x: Samples) -> None:
        m = len(x)
        d = self._scratch[:m]
        np.subtract(x[1:], x[:-1], out=d[1:])
        # a^-0 = 1, so carrying y[-1] in the first difference adds it to the whole cumsum.
        d[0] = x[0] - self._x1 + self._y1
        self._x1 = float(x[-1])
        d *= self._shrink[:m]
        np.cumsum(d, out=d)
        np.multiply(d, self._grow[:m], out=x, casting="same_kind")
        self._y1 = float(d[-1] * self._grow[m - 1])

    def reset(self) -> None:
        self._x1 = self._y1 = 0.0


class GainNormalizer:
    """Steers frame peaks toward `target_dbfs` with a gain of at most `max_gain_db`.

    Attack is immediate (a frame whose peak would overshoot gets the lower gain for the whole
    frame, so nothing clips); release is slow (`release_db_per_s`, ramped across the frame so
    the gain never steps up). Frames whose RMS is below `noise_floor_dbfs` hold the gain: pauses
    and line noise are not pumped up between words. The first frame above the floor sets the
    gain directly, so a quiet caller is not left quiet for the first seconds of a call.
    """

    def __init__(
        self,
        rate: int,
        *,
        target_dbfs: float = -3.0,
        max_gain_db: float = 20.0,
        noise_floor_dbfs: float = -45.0,
        release_db_per_s: float = 10.0,
    ) -> None:
        self.rate = check_rate(rate)
        if not target_dbfs <= 0.0:
            raise ValueError(f"target_dbfs must be <= 0, got {target_dbfs}")
        if not max_gain_db >= 0.0:
            raise ValueError(f"max_gain_db must be >= 0, got {max_gain_db}")
        if not release_db_per_s > 0.0:
            raise ValueError(f"release_db_per_s must be > 0, got {release_db_per_s}")
        self._target = INT16_FULL_SCALE * 10.0 ** (target_dbfs / 20.0)
        self._max_gain = 10.0 ** (max_gain_db / 20.0)
        # Compared against the mean square, so no sqrt per frame.
        self._floor_power = (INT16_FULL_SCALE * 10.0 ** (noise_floor_dbfs / 20.0)) ** 2
        self._release_per_sample = release_db_per_s / 20.0 / self.rate  # log10 units
        self._gain: float | None = None
        self._ramps: dict[int, Samples] = {}

    @property
    def gain_db(self) -> float:
        """The gain applied at the end of the last frame (0 before any frame above the floor)."""
        return 20.0 * math.log10(self._gain) if self._gain else 0.0

    def process(self, pcm: Pcm16) -> Pcm16:
        x = check_pcm16(pcm).astype(np.float32)
        return to_pcm16(self.apply(x))

    def apply(self, x: Samples) -> Samples:
        """Scale float32 samples in place and return them."""
        check_samples(x)
        n = len(x)
        if n == 0:
            return x
        current = self._gain
        power = float(np.dot(x, x)) / n
        if power >= self._floor_power:
            peak = float(np.abs(x).max())
            wanted = min(self._target / peak, self._max_gain)
            if current is None or wanted <= current:
                self._gain = wanted
            else:
                self._gain = min(wanted, current * 10.0 ** (self._release_per_sample * n))
        new = self._gain
        if new is None or (current is None and new == 1.0):
            return x
        if current is None or new <= current:
            x *= new
        else:
            x *= current + (new - current) * self._ramp(n)
        return x

    def _ramp(self, n: int) -> Samples:
        ramp = self._ramps.get(n)
        if ramp is None:
            if len(self._ramps) > 8:  # frame sizes vary with the resampler's bursts
                self._ramps.clear()
            ramp = self._ramps[n] = np.arange(1, n + 1, dtype=np.float32) / np.float32(n)
        return ramp
