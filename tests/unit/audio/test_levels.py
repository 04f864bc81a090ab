from __future__ import annotations

import math

import numpy as np
import pytest

from mediaserver.audio.levels import DcBlocker, GainNormalizer

from .conftest import RATE, tone, white_noise

FRAME = RATE // 50


def in_frames(stage: DcBlocker | GainNormalizer, x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    x = x.astype(np.float32)
    return np.concatenate([stage.apply(x[i : i + frame].copy()) for i in range(0, len(x), frame)])


def reference_high_pass(x: np.ndarray, rate: int, cutoff: float) -> np.ndarray:
    a = 1.0 / (1.0 + 2.0 * math.pi * cutoff / rate)
    y, prev_x, prev_y = np.zeros(len(x)), 0.0, 0.0
    for i, v in enumerate(x.astype(np.float64)):
        prev_y = a * (prev_y + v - prev_x)
        prev_x = v
        y[i] = prev_y
    return y


def peak_dbfs(x: np.ndarray) -> float:
    return 20 * math.log10(np.abs(x).max() / 32768)


def test_dc_blocker_matches_the_recursive_filter_across_frames() -> None:
    x = tone(440.0, 1.0, 6000.0) + 4000.0 + np.random.default_rng(0).normal(0, 300, RATE)
    y = in_frames(DcBlocker(RATE), x, frame=317)  # odd frames cross block edges
    assert np.max(np.abs(y - reference_high_pass(x, RATE, 20.0))) < 0.05


def test_dc_blocker_removes_offset_and_keeps_speech_band() -> None:
    x = tone(440.0, 2.0, 6000.0) + 5000.0
    y = in_frames(DcBlocker(RATE), x)
    settled = y[RATE:]
    assert abs(float(settled.mean())) < 5.0
    assert 5900 < np.abs(settled).max() < 6050


def test_dc_blocker_cutoff_is_minus_3_db() -> None:
    y = in_frames(DcBlocker(RATE, cutoff_hz=20.0), tone(20.0, 3.0, 10000.0))
    gain_db = 20 * math.log10(np.abs(y[2 * RATE :]).max() / 10000.0)
    assert -3.5 < gain_db < -2.5


def test_dc_blocker_int16_wrapper_and_input_checks() -> None:
    dc = DcBlocker(RATE)
    out = dc.process(np.full(FRAME, 1000, np.int16))
    assert out.dtype == np.int16
    assert len(out) == FRAME
    with pytest.raises(ValueError, match="int16"):
        dc.process(np.zeros(FRAME, np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="float32"):
        dc.apply(np.zeros(FRAME, np.float64))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cutoff_hz"):
        DcBlocker(RATE, cutoff_hz=0.0)


def test_gain_brings_quiet_speech_up_to_the_target() -> None:
    x = tone(300.0, 2.0, 32768 * 10 ** (-15 / 20))  # peak -15 dBFS
    y = in_frames(GainNormalizer(RATE), x)
    assert -3.2 < peak_dbfs(y[RATE:]) <= -3.0


def test_gain_is_limited_by_max_gain() -> None:
    x = tone(300.0, 2.0, 32768 * 10 ** (-35 / 20))  # peak -35 dBFS, above the noise floor
    gain = GainNormalizer(RATE, max_gain_db=20.0)
    y = in_frames(gain, x)
    assert -15.2 < peak_dbfs(y[RATE:]) < -14.8
    assert gain.gain_db == pytest.approx(20.0)


def test_gain_does_not_rise_on_frames_below_the_noise_floor() -> None:
    gain = GainNormalizer(RATE, noise_floor_dbfs=-45.0)
    speech = tone(300.0, 1.0, 32768 * 10 ** (-6 / 20))
    in_frames(gain, speech)
    before = gain.gain_db
    hiss = white_noise(5 * RATE, -55.0)
    y = in_frames(gain, hiss)
    assert gain.gain_db == before
    assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) == pytest.approx(
        np.sqrt(np.mean(hiss.astype(np.float64) ** 2)) * 10 ** (before / 20), rel=1e-3
    )


def test_attack_is_immediate_and_release_is_slow() -> None:
    gain = GainNormalizer(RATE, release_db_per_s=10.0)
    quiet = tone(300.0, 1.0, 32768 * 10 ** (-20 / 20))
    loud = tone(300.0, 0.2, 32768 * 10 ** (-1 / 20))
    in_frames(gain, quiet)
    y = in_frames(gain, loud)
    assert peak_dbfs(y) <= -3.0 + 1e-3  # no overshoot on the first loud frame
    low = gain.gain_db
    in_frames(gain, tone(300.0, 0.5, 32768 * 10 ** (-20 / 20)))
    assert gain.gain_db - low == pytest.approx(5.0, abs=0.1)  # 10 dB/s for 0.5 s


def test_gain_ramps_without_steps() -> None:
    gain = GainNormalizer(RATE)
    in_frames(gain, tone(300.0, 0.2, 20000.0))
    y = in_frames(gain, tone(300.0, 0.1, 2000.0))
    envelope = np.abs(y).reshape(-1, 160).max(axis=1)  # 10 ms peaks
    assert np.all(np.diff(envelope) >= -1.0)
    # 10 dB/s is 0.1 dB (1.2 %) per 10 ms: the rise is spread evenly, never a jump.
    assert np.all(np.diff(envelope) < 0.015 * envelope[:-1])


def test_gain_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="target_dbfs"):
        GainNormalizer(RATE, target_dbfs=3.0)
    with pytest.raises(ValueError, match="max_gain_db"):
        GainNormalizer(RATE, max_gain_db=-1.0)
    with pytest.raises(ValueError, match="int16"):
        GainNormalizer(RATE).process(np.zeros(4, np.int32))  # type: ignore[arg-type]
    assert len(GainNormalizer(RATE).process(np.zeros(0, np.int16))) == 0
