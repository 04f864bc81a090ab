from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mediaserver.audio import silero as silero_module
from mediaserver.audio.events import SpeechEnd, SpeechStart, VadEvent
from mediaserver.audio.silero import (
    SILERO_CHUNK,
    SileroModel,
    VadModelNotFoundError,
    find_silero_model,
)
from mediaserver.audio.vad import SENSITIVITY, Vad, VadBatcher, VadStream
from mediaserver.config import VadSettings

from .conftest import (
    RATE,
    Speech,
    at_level,
    feed_in_frames,
    pink_noise,
    speech_bounds,
    to_int16,
    tone,
    white_noise,
)

MS = RATE // 1000
TOLERANCE = 100 * MS
SENTENCES = (
    "Bom dia, eu gostaria de consultar o saldo da minha conta",
    "Quero fazer um pix de cento e vinte reais",
    "Meu cartão foi bloqueado ontem à noite",
)


def detect(model: SileroModel, pcm: np.ndarray, settings: VadSettings, frame: int = 320) -> list:
    vad = Vad(model, settings)
    return feed_in_frames(vad.process, pcm, frame) + vad.flush()


def segments(events: list[VadEvent]) -> list[tuple[int, int]]:
    assert all(isinstance(e, SpeechStart) for e in events[0::2])
    assert all(isinstance(e, SpeechEnd) for e in events[1::2])
    assert len(events) % 2 == 0
    return [(s.sample, e.sample) for s, e in zip(events[0::2], events[1::2], strict=True)]


def conversation(speech: Speech) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """silence + speech + silence + speech + silence, with the true speech boundaries."""
    quiet = white_noise(RATE, -70.0, seed=1)  # a line is never digitally silent
    first, second = speech(SENTENCES[0]), speech(SENTENCES[1])
    parts = [quiet, first, quiet, quiet, second, quiet]
    offsets = np.cumsum([0] + [len(p) for p in parts])
    truth = []
    for index, voice in ((1, first), (4, second)):
        start, end = speech_bounds(voice)
        truth.append((int(offsets[index]) + start, int(offsets[index]) + end))
    return np.concatenate(parts), truth


def assert_segments_match(found: list[tuple[int, int]], truth: list, pad: int) -> None:
    assert len(found) == len(truth)
    for (start, end), (true_start, true_end) in zip(found, truth, strict=True):
        assert abs(start - (true_start - pad)) <= TOLERANCE
        assert abs(end - (true_end + pad)) <= TOLERANCE


@pytest.mark.needs_espeak
@pytest.mark.parametrize("pad_ms", [0, 200])
def test_speech_boundaries_are_found_within_100_ms(
    silero: SileroModel, speech: Speech, pad_ms: int
) -> None:
    audio, truth = conversation(speech)
    events = detect(silero, audio, VadSettings(speech_pad_ms=pad_ms))
    assert_segments_match(segments(events), truth, pad_ms * MS)


@pytest.mark.needs_espeak
def test_frame_size_does_not_change_the_events(silero: SileroModel, speech: Speech) -> None:
    audio, _ = conversation(speech)
    reference = detect(silero, audio, VadSettings(), frame=320)
    assert detect(silero, audio, VadSettings(), frame=160) == reference
    assert detect(silero, audio, VadSettings(), frame=4096) == reference


@pytest.mark.parametrize("sensitivity", ["high", "normal", "low"])
def test_silence_and_noise_are_not_speech(silero: SileroModel, sensitivity: str) -> None:
    n = 5 * RATE
    hum = tone(50.0, 5.0, 1.0) + 0.3 * tone(150.0, 5.0, 1.0) + 0.1 * tone(250.0, 5.0, 1.0)
    for noise in (
        np.zeros(n, np.int16),
        white_noise(n, -40.0),
        pink_noise(n, -35.0),
        to_int16(at_level(hum, -20.0)),
    ):
        settings = VadSettings(sensitivity=sensitivity)  # type: ignore[arg-type]
        assert detect(silero, noise, settings) == []


def test_prefilter_skips_clear_silence_but_not_quiet_tones(silero: SileroModel) -> None:
    stream = VadStream(VadSettings(sensitivity="normal"))
    stream.feed(np.zeros(10 * SILERO_CHUNK, np.int16))
    stream.feed(white_noise(10 * SILERO_CHUNK, -50.0))
    assert not stream.pending
    assert stream.skipped_chunks == 20
    voiced = sum(tone(150.0 * k, 1.0, 1.0 / k) for k in range(1, 8))
    stream.feed(to_int16(at_level(voiced, -50.0))[: 2 * SILERO_CHUNK])  # quiet but not flat
    assert stream.pending
    VadBatcher(silero).run([stream])
    assert stream.inferred_chunks == 2
    assert not stream.pending


def test_prefilter_sees_noise_in_the_telephone_band_as_flat() -> None:
    stream = VadStream(VadSettings(sensitivity="normal"))
    narrow = np.fft.rfft(white_noise(RATE, -50.0).astype(np.float64))
    narrow[len(narrow) // 2 :] = 0  # nothing above 4 kHz, like upsampled G.711
    stream.feed(to_int16(at_level(np.fft.irfft(narrow, RATE), -50.0)))
    assert stream.skipped_chunks == RATE // SILERO_CHUNK
    assert not stream.pending


@pytest.mark.needs_espeak
def test_batched_results_equal_single_stream_results(silero: SileroModel, speech: Speech) -> None:
    rng = np.random.default_rng(7)
    inputs = [conversation(speech)[0]]
    for i, text in enumerate(SENTENCES):
        lead = white_noise(int(rng.integers(RATE // 4, 2 * RATE)), -60.0, seed=i)
        mixed = speech(text).astype(np.float64) + at_level(
            rng.standard_normal(len(speech(text))), -45
        )
        inputs.append(np.concatenate([lead, to_int16(mixed), lead]))
    inputs.append(white_noise(3 * RATE, -35.0, seed=9))
    inputs.append(np.zeros(2 * RATE, np.int16))
    expected = [detect(silero, pcm, VadSettings()) for pcm in inputs]
    assert sum(len(e) for e in expected) >= 8  # the comparison covers real speech

    streams = [VadStream(VadSettings()) for _ in inputs]
    got: list[list[VadEvent]] = [[] for _ in inputs]
    batcher = VadBatcher(silero, max_batch=4)  # 6 streams: more than one batch per step
    frames = [160, 320, 480, 640, 1000, 320]  # streams progress at different rates
    positions = [0] * len(inputs)
    inferences = 0
    while any(p < len(x) for p, x in zip(positions, inputs, strict=True)):
        for i, stream in enumerate(streams):
            stream.feed(inputs[i][positions[i] : positions[i] + frames[i]])
            positions[i] += frames[i]
        inferences += batcher.run(streams)
        for i, stream in enumerate(streams):
            got[i] += stream.events()
    for i, stream in enumerate(streams):
        got[i] += stream.flush()
    assert got == expected
    total_inferred = sum(s.inferred_chunks for s in streams)
    assert inferences < total_inferred  # chunks of several streams shared inferences


def test_model_rows_are_independent(silero: SileroModel) -> None:
    rng = np.random.default_rng(0)
    chunks = (rng.standard_normal((5, 576)) * 0.1).astype(np.float32)
    states = (rng.standard_normal((2, 5, 128)) * 0.1).astype(np.float32)
    probs, new_states = silero.infer(chunks, states)
    for row in range(5):
        p, s = silero.infer(chunks[row : row + 1], np.ascontiguousarray(states[:, row : row + 1]))
        assert p[0] == pytest.approx(probs[row], abs=1e-6)
        np.testing.assert_allclose(s[:, 0], new_states[:, row], atol=1e-6)


@pytest.mark.needs_espeak
def test_sensitivity_orders_detected_speech(silero: SileroModel, speech: Speech) -> None:
    voice = speech(SENTENCES[0] + " por favor").astype(np.float64)
    rng = np.random.default_rng(1)
    for snr_db in (0.0, -10.0):
        noise = at_level(rng.standard_normal(len(voice) + 2 * RATE), -30.0 - snr_db)
        noisy = noise.copy()
        noisy[RATE : RATE + len(voice)] += at_level(voice, -30.0)
        pcm = to_int16(noisy)
        durations = []
        for level in ("high", "normal", "low"):
            found = segments(detect(silero, pcm, VadSettings(sensitivity=level)))  # type: ignore[arg-type]
            durations.append(sum(end - start for start, end in found))
        assert durations[0] >= durations[1] >= durations[2]
        assert durations[0] > durations[2]


def scripted(probs: list[float], settings: VadSettings) -> list[VadEvent]:
    """Drive the hysteresis with chosen probabilities through the two-phase API."""
    stream = VadStream(settings)
    stream.feed(white_noise(len(probs) * SILERO_CHUNK, -20.0))  # loud: every chunk waits
    state = np.zeros((2, 128), np.float32)
    for prob in probs:
        stream.accept(prob, state)
    return stream.events() + stream.flush()


def test_hysteresis_min_speech_min_silence_and_padding() -> None:
    settings = VadSettings(min_speech_ms=250, min_silence_ms=500, speech_pad_ms=100)
    chunk = SILERO_CHUNK
    # 4 chunks (128 ms) of speech is a burst, not speech.
    assert scripted([0.0] * 5 + [0.9] * 4 + [0.0] * 40, settings) == []
    # 20 chunks of speech, 10 of silence (320 ms < 500 ms: same segment), 20 more, then silence.
    events = scripted([0.0] * 5 + [0.9] * 20 + [0.1] * 10 + [0.9] * 20 + [0.0] * 40, settings)
    assert events == [SpeechStart(5 * chunk - 100 * MS), SpeechEnd(55 * chunk + 100 * MS)]


def test_hysteresis_end_needs_the_lower_threshold() -> None:
    settings = VadSettings(min_speech_ms=0, min_silence_ms=100, speech_pad_ms=0)
    threshold, _ = SENSITIVITY["normal"]
    between = threshold - 0.1  # below the start threshold, above the end threshold
    events = scripted([0.9] * 10 + [between] * 30 + [0.0] * 10, settings)
    assert events == [SpeechStart(0), SpeechEnd(40 * SILERO_CHUNK)]


def test_flush_closes_open_speech_at_the_end_of_the_audio() -> None:
    settings = VadSettings(min_speech_ms=0, speech_pad_ms=0)
    stream = VadStream(settings)
    stream.feed(white_noise(10 * SILERO_CHUNK + 100, -20.0))
    for _ in range(10):
        stream.accept(0.9, np.zeros((2, 128), np.float32))
    assert stream.events() == [SpeechStart(0)]
    assert stream.speaking
    assert stream.flush() == [SpeechEnd(10 * SILERO_CHUNK + 100)]


def test_bad_input_changes_nothing() -> None:
    stream = VadStream()
    stream.feed(np.zeros(100, np.int16))
    with pytest.raises(ValueError, match="int16"):
        stream.feed(np.zeros(1000, np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D"):
        stream.feed(np.zeros((2, 1000), np.int16))  # type: ignore[arg-type]
    assert stream.position == 100
    with pytest.raises(ValueError, match="no chunk"):
        stream.accept(0.5, np.zeros((2, 128), np.float32))
    with pytest.raises(ValueError, match="sensitivity"):
        VadStream(VadSettings(sensitivity="extreme"))  # type: ignore[arg-type]


def test_model_checks_its_arguments(silero: SileroModel, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunks"):
        silero.infer(np.zeros((1, 512), np.float32), np.zeros((2, 1, 128), np.float32))
    with pytest.raises(ValueError, match="states"):
        silero.infer(np.zeros((2, 576), np.float32), np.zeros((2, 1, 128), np.float32))
    with pytest.raises(VadModelNotFoundError):
        SileroModel(tmp_path / "missing.onnx")


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "silero_vad" else real_find_spec(name)

    monkeypatch.setattr(silero_module.importlib.util, "find_spec", find_spec)
    with pytest.raises(VadModelNotFoundError, match=r"pip install --no-deps silero-vad"):
        find_silero_model()
