from __future__ import annotations

import numpy as np
import pytest
import soxr

from mediaserver.audio.resample import QUALITIES, Resampler

from .conftest import tone


def dominant_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def stream(resampler: Resampler, pcm: np.ndarray, chunk: int) -> np.ndarray:
    parts = [resampler.process(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk)]
    return np.concatenate([*parts, resampler.flush()])


@pytest.mark.parametrize(
    ("in_rate", "out_rate"),
    [(8000, 16000), (48000, 16000), (22050, 16000), (24000, 16000), (16000, 8000), (24000, 48000)],
)
def test_sine_keeps_its_frequency_and_length_is_exact(in_rate: int, out_rate: int) -> None:
    pcm = tone(1000.0, 10.0, 12000.0, in_rate).astype(np.int16)
    out = stream(Resampler(in_rate, out_rate), pcm, in_rate // 50)
    assert len(out) == round(len(pcm) * out_rate / in_rate)
    middle = out[out_rate:-out_rate]
    assert abs(dominant_frequency(middle, out_rate) - 1000.0) < 2.0
    assert 11000 < np.abs(middle).max() < 13000


@pytest.mark.parametrize("quality", QUALITIES)
def test_streaming_equals_one_shot(quality: str) -> None:
    rng = np.random.default_rng(3)
    pcm = (tone(440.0, 3.0, 8000.0, 8000) + rng.normal(0, 500, 24000)).astype(np.float32)
    streamed = stream(Resampler(8000, 16000, quality=quality, dtype=np.float32), pcm, 160)  # type: ignore[arg-type]
    one_shot = soxr.resample(pcm, 8000, 16000, quality=quality)
    assert len(streamed) == len(one_shot)
    assert np.max(np.abs(streamed - one_shot)) < 1.0  # in int16 units


def test_odd_chunk_sizes_do_not_change_the_result() -> None:
    pcm = tone(300.0, 2.0, 9000.0, 8000).astype(np.int16)
    reference = stream(Resampler(8000, 16000), pcm, 160)
    sizes = [1, 7, 160, 333, 0, 2000]
    r = Resampler(8000, 16000)
    parts, start = [], 0
    for i in range(10_000):
        size = sizes[i % len(sizes)]
        parts.append(r.process(pcm[start : start + size]))
        start += size
        if start >= len(pcm):
            break
    parts.append(r.flush())
    # int16 output is dithered by soxr, so equal means within a couple of LSB.
    assert np.max(np.abs(np.concatenate(parts).astype(int) - reference)) <= 2
    assert r.samples_in == len(pcm)
    assert r.samples_out == len(reference)


def test_equal_rates_pass_audio_through_untouched() -> None:
    r = Resampler(16000, 16000)
    pcm = np.arange(320, dtype=np.int16)
    assert r.passthrough
    assert r.process(pcm) is pcm
    assert len(r.flush()) == 0


def test_resampler_starts_over_after_flush() -> None:
    pcm = tone(500.0, 0.5, 5000.0, 8000).astype(np.int16)
    r = Resampler(8000, 16000)
    first = stream(r, pcm, 160)
    second = stream(r, pcm, 160)
    assert len(first) == len(second)
    assert np.max(np.abs(first.astype(int) - second)) <= 2


def test_bad_input_is_rejected_without_changing_state() -> None:
    r = Resampler(8000, 16000)
    with pytest.raises(ValueError, match="dtype int16"):
        r.process(np.zeros(160, np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D"):
        r.process(np.zeros((2, 160), np.int16))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="numpy"):
        r.process([0] * 160)  # type: ignore[arg-type]
    assert r.samples_in == 0


def test_bad_construction_is_rejected() -> None:
    with pytest.raises(ValueError, match="quality"):
        Resampler(8000, 16000, quality="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="in_rate"):
        Resampler(0, 16000)
    with pytest.raises(ValueError, match="out_rate"):
        Resampler(8000, 16000.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype"):
        Resampler(8000, 16000, dtype=np.float64)  # type: ignore[arg-type]
