from __future__ import annotations

import numpy as np
import pytest
import soxr

from mediaserver.audio.fir import FirResampler, integer_ratio

from .conftest import tone

RATIOS = [(8000, 16000), (48000, 16000), (16000, 8000), (16000, 48000)]


def stream(r: FirResampler, pcm: np.ndarray, sizes: list[int]) -> np.ndarray:
    parts, start, i = [], 0, 0
    while start < len(pcm):
        size = sizes[i % len(sizes)]
        parts.append(r.process(pcm[start : start + size]))
        start, i = start + size, i + 1
    return np.concatenate([*parts, r.flush()])


@pytest.mark.parametrize(("in_rate", "out_rate"), RATIOS)
def test_matches_soxr_high_quality_with_exact_length(in_rate: int, out_rate: int) -> None:
    rng = np.random.default_rng(1)
    pcm = (tone(1000.0, 2.0, 8000.0, in_rate) + rng.normal(0, 300, 2 * in_rate)).astype(np.float32)
    out = stream(FirResampler(in_rate, out_rate, dtype=np.float32), pcm, [in_rate // 50])
    reference = soxr.resample(pcm, in_rate, out_rate, quality="HQ")
    assert len(out) == len(reference) == round(len(pcm) * out_rate / in_rate)
    # Same timeline (no offset) and the same pass band: the residual is the noise above the
    # pass band that each filter treats differently, far below the signal.
    residual = out[100:-100] - reference[100:-100]
    assert np.sqrt(np.mean(residual**2)) < 0.02 * np.sqrt(np.mean(reference**2))


@pytest.mark.parametrize(("in_rate", "out_rate"), RATIOS)
def test_chunking_does_not_change_the_result(in_rate: int, out_rate: int) -> None:
    pcm = tone(300.0, 1.0, 9000.0, in_rate).astype(np.int16)
    whole = stream(FirResampler(in_rate, out_rate), pcm, [len(pcm)])
    r = FirResampler(in_rate, out_rate)
    odd = stream(r, pcm, [1, 7, 160, 333, 0, 2000])
    np.testing.assert_array_equal(odd, whole)
    assert r.samples_in == len(pcm)
    assert r.samples_out == len(whole)


def test_holds_back_a_few_milliseconds() -> None:
    r = FirResampler(8000, 16000)
    first = r.process(np.zeros(160, np.int16))
    assert r.holdback_s < 0.006  # soxr LQ: 32 ms on average
    assert len(first) == 320 - round(r.holdback_s * 16000)
    assert len(r.process(np.zeros(160, np.int16))) == 320
    assert FirResampler(48000, 16000).holdback_s < 0.003


def spectrum_db(out: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    return np.fft.rfftfreq(len(out), 1 / rate), 20 * np.log10(spectrum / spectrum.max() + 1e-12)


@pytest.mark.parametrize("hz", [3300.0, 3800.0])
def test_images_of_the_whole_telephone_band_are_rejected(hz: float) -> None:
    # Digital G.711 (a PBX, a softphone) carries speech up to 4 kHz, not only to 3.4 kHz: the
    # image of a tone at f lands at 8000 - f, and nothing of it may reach the 16 kHz audio.
    r = FirResampler(8000, 16000, dtype=np.float32)
    out = stream(r, tone(hz, 2.0, 10000.0, 8000).astype(np.float32), [160])[1000:-1000]
    freqs, db = spectrum_db(out, 16000)
    assert db[np.argmin(np.abs(freqs - (8000.0 - hz)))] < -60
    assert db[np.argmin(np.abs(freqs - hz))] > -1  # the tone itself passes


def test_what_would_alias_is_removed_before_decimating() -> None:
    # 48 kHz WebRTC audio at 8.5 kHz would fold to 7.5 kHz at 16 kHz.
    r = FirResampler(48000, 16000, dtype=np.float32)
    pcm = (tone(8500.0, 2.0, 10000.0, 48000) + tone(5000.0, 2.0, 10000.0, 48000)).astype(np.float32)
    freqs, db = spectrum_db(stream(r, pcm, [960])[1000:-1000], 16000)
    assert db[np.argmin(np.abs(freqs - 7500.0))] < -60
    assert db[np.argmin(np.abs(freqs - 5000.0))] > -1


def test_constant_stays_constant_and_it_starts_over_after_flush() -> None:
    r = FirResampler(8000, 16000)
    pcm = np.full(800, 1000, np.int16)
    first = stream(r, pcm, [160])
    assert np.all(first[100:-100] == 1000)
    np.testing.assert_array_equal(stream(r, pcm, [160]), first)


def test_bad_input_is_rejected_without_changing_state() -> None:
    r = FirResampler(8000, 16000)
    with pytest.raises(ValueError, match="dtype int16"):
        r.process(np.zeros(160, np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D"):
        r.process(np.zeros((2, 160), np.int16))
    assert r.samples_in == 0
    assert len(r.process(np.zeros(160, np.int16))) == 320 - round(r.holdback_s * 16000)


def test_only_integer_ratios_are_accepted() -> None:
    assert integer_ratio(8000, 16000)
    assert integer_ratio(48000, 16000)
    assert not integer_ratio(22050, 16000)
    assert not integer_ratio(16000, 16000)
    with pytest.raises(ValueError, match="integer ratio"):
        FirResampler(22050, 16000)
    with pytest.raises(ValueError, match="dtype"):
        FirResampler(8000, 16000, dtype=np.float64)  # type: ignore[arg-type]
