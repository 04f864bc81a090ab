from __future__ import annotations

import math

import numpy as np
import pytest
import soxr

from mediaserver.audio.pipeline import Preprocessor
from mediaserver.audio.silero import SileroModel
from mediaserver.audio.vad import Vad
from mediaserver.config import AudioSettings, VadSettings

from .conftest import RATE, Speech, feed_in_frames, speech_bounds, tone, white_noise

MS = RATE // 1000


def run(pre: Preprocessor, pcm: np.ndarray, frame: int) -> np.ndarray:
    parts = [pre.process(pcm[i : i + frame]) for i in range(0, len(pcm), frame)]
    return np.concatenate([*parts, pre.flush()])


def peak_dbfs(x: np.ndarray) -> float:
    return 20 * math.log10(np.abs(x.astype(np.float64)).max() / 32768)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 48000])
def test_any_rate_becomes_16k_of_the_same_duration(rate: int) -> None:
    pcm = tone(440.0, 2.0, 3000.0, rate).astype(np.int16)
    out = run(Preprocessor(rate), pcm, rate // 50)
    assert out.dtype == np.int16
    assert len(out) == round(len(pcm) * RATE / rate)


def test_dc_is_removed_and_level_is_normalized() -> None:
    pcm = (tone(300.0, 3.0, 32768 * 10 ** (-30 / 20), 8000) + 2000).astype(np.int16)
    out = run(Preprocessor(8000), pcm, 160)[RATE:]
    assert abs(float(out.mean())) < 20
    assert -10.5 < peak_dbfs(out) < -9.5  # -30 dBFS + the 20 dB gain limit


def test_stages_follow_the_settings() -> None:
    pcm = (tone(300.0, 2.0, 3000.0) + 2000).astype(np.int16)
    settings = AudioSettings(dc_remove=False, gain_normalize=False)
    out = run(Preprocessor(RATE, settings), pcm, 320)
    np.testing.assert_array_equal(out, pcm)
    lifted = run(Preprocessor(RATE, AudioSettings(dc_remove=False, max_gain_db=3.0)), pcm, 320)
    assert peak_dbfs(lifted) == pytest.approx(peak_dbfs(pcm) + 3.0, abs=0.1)


def test_denoise_on_telephone_audio() -> None:
    noise = white_noise(3 * 8000, -30.0)
    pre = Preprocessor(8000, AudioSettings(denoise=True, gain_normalize=False))
    out = run(pre, noise, 160)
    pre.close()
    assert len(out) == 2 * len(noise)
    noise_16k = soxr.resample(noise, 8000, RATE)
    assert np.mean(out[RATE:].astype(float) ** 2) < np.mean(noise_16k.astype(float) ** 2) / 30


def test_bad_input_is_rejected() -> None:
    pre = Preprocessor(8000)
    with pytest.raises(ValueError, match="int16"):
        pre.process(np.zeros(160, np.float64))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_rate"):
        Preprocessor(-8000)


def telephone_call(speech: Speech) -> tuple[np.ndarray, int, int]:
    """8 kHz audio: 1 s of line noise, a sentence, 2 s of line noise; true speech bounds at 16k."""
    voice = speech("Bom dia, eu gostaria de consultar o saldo da minha conta")
    start, end = speech_bounds(voice)
    call_16k = white_noise(len(voice) + 3 * RATE, -60.0).astype(np.float64)
    call_16k[RATE : RATE + len(voice)] += voice
    call_8k = soxr.resample(np.clip(call_16k, -32768, 32767).astype(np.int16), RATE, 8000)
    return call_8k, RATE + start, RATE + end


def detect_call(silero: SileroModel, call_8k: np.ndarray, settings: AudioSettings) -> list:
    pre = Preprocessor(8000, settings)
    vad = Vad(silero, VadSettings(speech_pad_ms=0))
    events = feed_in_frames(lambda frame: vad.process(pre.process(frame)), call_8k, 160)
    events += vad.process(pre.flush()) + vad.flush()
    pre.close()
    return events


@pytest.mark.needs_espeak
def test_telephone_call_through_preprocessor_and_vad(silero: SileroModel, speech: Speech) -> None:
    """8 kHz telephone audio: resample 8k -> 16k, DC removal, gain, then VAD."""
    call_8k, start, end = telephone_call(speech)
    events = detect_call(silero, call_8k, AudioSettings())
    assert len(events) == 2
    assert abs(events[0].sample - start) <= 100 * MS
    assert abs(events[1].sample - end) <= 100 * MS


@pytest.mark.needs_espeak
def test_telephone_call_with_denoise(silero: SileroModel, speech: Speech) -> None:
    """RNNoise mutes the first syllable's onset (measured: 50-210 ms on espeak speech), so the
    start is allowed more slack here; the default 200 ms speech padding covers it."""
    call_8k, start, end = telephone_call(speech)
    events = detect_call(silero, call_8k, AudioSettings(denoise=True))
    assert len(events) == 2
    assert 0 <= events[0].sample - start <= 250 * MS
    assert abs(events[1].sample - end) <= 100 * MS


def test_blocks_are_released_as_soon_as_they_complete() -> None:
    pcm = tone(300.0, 1.0, 8000.0, 8000).astype(np.int16)
    plain = Preprocessor(8000, AudioSettings(gain_normalize=False))
    blocked = Preprocessor(8000, AudioSettings(gain_normalize=False), block=512)
    produced = released = 0
    parts = []
    for i in range(0, len(pcm), 160):
        produced += len(plain.process(pcm[i : i + 160]))
        out = blocked.process(pcm[i : i + 160])
        parts.append(out)
        if len(out):
            released += len(out)
            assert released == produced  # everything made so far, in the frame that
            assert released // 512 > (released - len(out)) // 512  # ... crossed a block
        else:
            assert produced // 512 == released // 512
    parts.append(blocked.flush())
    assert len(np.concatenate(parts)) == len(pcm) * 2
    with pytest.raises(ValueError, match="block"):
        Preprocessor(8000, block=0)
