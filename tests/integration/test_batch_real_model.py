"""The batch path on a five-minute recording of real telephony speech, with the real
faster-whisper base model: as accurate as the library's own sequential transcription.

Speed is compared in `benchmarks/batch.py`, not here (a timed test on a shared machine would
be noise). The engine runs in-process (`tests/in_process.py`): the same batch code the server
runs, without the worker start-up.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mediaserver.batch import transcription as batch
from mediaserver.config import AudioSettings
from mediaserver.engines.base import TranscribeOptions
from tests import long_speech
from tests.in_process import InProcess, whisper
from tests.real_model import RealModelUnavailable, whisper_base_dir
from tests.real_speech import word_errors

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not long_speech.available(), reason="needs asterisk-core-sounds-en-wav"),
]
OPTIONS = TranscribeOptions(language="en", word_timestamps=True)


@pytest.fixture(scope="module")
def engine() -> InProcess:
    try:
        return whisper(whisper_base_dir())
    except RealModelUnavailable as exc:
        pytest.skip(f"faster-whisper-base is not available: {exc}")


def test_a_long_recording_is_as_accurate_as_the_library_sequential(engine: InProcess) -> None:
    recording = long_speech.long_recording()
    pcm = recording.pcm16k()
    rows = batch.preprocess(pcm[None, :], AudioSettings())
    # Stereo, per channel: the caller on channel 0, a silent agent on channel 1.
    silent = np.zeros_like(rows[0])
    result = asyncio.run(batch.transcribe(engine, "base", [(0, rows[0]), (1, silent)], OPTIONS))

    segments, _ = engine.engine._model.transcribe(pcm.astype(np.float32) / 32768, language="en")
    library = " ".join(s.text for s in segments)
    errors, words = word_errors(recording.text, result.text)
    library_errors, _ = word_errors(recording.text, library)
    ours, reference = 100 * errors / words, 100 * library_errors / words
    print(f"WER batch path {ours:.2f} %, WhisperModel.transcribe {reference:.2f} %")
    assert ours <= reference + 0.3

    assert {s.channel for s in result.segments} == {0}  # the silent channel says nothing
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    assert result.segments[-1].end <= recording.duration_s + 0.01
    assert result.segments[-1].end > 0.8 * recording.duration_s  # in file time, not packed
    for segment in result.segments:
        assert segment.words
        assert all(segment.start - 0.5 <= w.start <= w.end <= segment.end + 0.5
                   for w in segment.words)  # fmt: skip
