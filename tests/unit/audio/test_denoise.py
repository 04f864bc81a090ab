from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mediaserver.audio import denoise
from mediaserver.audio.denoise import Denoiser, DenoiseUnavailableError, find_rnnoise_library

from .conftest import RATE, Speech, white_noise


def energy_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9))


def run(d: Denoiser, pcm: np.ndarray, frame: int) -> np.ndarray:
    parts = [d.process(pcm[i : i + frame]) for i in range(0, len(pcm), frame)]
    return np.concatenate([*parts, d.flush()])


@pytest.mark.parametrize(("rate", "out_rate"), [(16000, 16000), (8000, 16000), (48000, 16000)])
def test_white_noise_energy_drops_and_length_tracks_input(rate: int, out_rate: int) -> None:
    noise = white_noise(3 * rate, -30.0, seed=rate)
    with Denoiser(rate, out_rate) as d:
        out = run(d, noise, rate // 50)
    assert len(out) == len(noise) * out_rate // rate
    settled = out[out_rate // 2 :]  # RNNoise adapts to the noise within a few frames
    assert energy_db(settled) < energy_db(noise) - 15.0


def test_output_stays_close_behind_the_input() -> None:
    d = Denoiser(8000, 16000)
    fed = produced = 0
    lag = []
    for frame in np.array_split(white_noise(8000, -30.0), 50):
        fed += len(frame)
        produced += len(d.process(frame))
        lag.append(fed * 2 - produced)
    d.close()
    assert max(lag) <= 16000 * 0.1  # buffering + resampling hold back at most 100 ms
    assert lag[-1] >= 0


@pytest.mark.needs_espeak
def test_clean_speech_survives(speech: Speech) -> None:
    voice = speech("Bom dia, eu gostaria de consultar o saldo da minha conta")
    with Denoiser(RATE) as d:
        out = run(d, voice, 320)
    assert len(out) == len(voice)
    assert energy_db(out) > energy_db(voice) - 6.0
    # Still aligned: RNNoise's own 20 ms of delay are removed.
    window = out[2000:-2000].astype(float)
    best = int(np.argmax(np.correlate(voice.astype(float), window, "valid")))
    assert abs(2000 - best) <= 16  # delay in samples


def test_close_frees_the_state_and_further_use_is_an_error() -> None:
    d = Denoiser(RATE)
    d.close()
    d.close()  # idempotent
    assert d.closed
    with pytest.raises(ValueError, match="closed"):
        d.process(np.zeros(320, np.int16))


def test_bad_input_is_rejected() -> None:
    with Denoiser(RATE) as d:
        with pytest.raises(ValueError, match="int16"):
            d.process(np.zeros(320, np.float32))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="rate"):
            Denoiser(7)


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "pyrnnoise" else real_find_spec(name)

    monkeypatch.setattr(denoise.importlib.util, "find_spec", find_spec)
    with pytest.raises(DenoiseUnavailableError, match=r"pip install --no-deps pyrnnoise"):
        find_rnnoise_library()


def test_unloadable_library_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "librnnoise.so"
    fake.write_bytes(b"not a shared library")
    with pytest.raises(DenoiseUnavailableError, match=r"pip install --no-deps pyrnnoise"):
        Denoiser(RATE, library=fake)
