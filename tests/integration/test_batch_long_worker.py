"""A long file through the real worker process: VAD-cut windows travel over gRPC as clips and
the transcript comes back in file time (tiny random-weight Whisper: only the plumbing counts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mediaserver.cli import main
from tests import long_speech
from tests.integration.transcriptions_support import installed_models, wav_bytes

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.slow,
    pytest.mark.skipif(not long_speech.available(), reason="needs asterisk-core-sounds-en-wav"),
]


def test_a_long_file_is_decoded_in_vad_windows_by_the_worker(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIASERVER_MODELS_DIR", str(installed_models(tmp_path_factory)))
    monkeypatch.setenv("MEDIASERVER_LOGGING__LEVEL", "warning")
    recording = long_speech.long_recording(seconds=70.0)
    pcm = recording.pcm16k()
    silence = np.zeros(16000 * 5, np.int16)  # speech starts 5 s in
    audio, out = tmp_path / "long.wav", tmp_path / "long.json"
    audio.write_bytes(wav_bytes(np.concatenate([silence, pcm])))
    assert main(["transcribe", str(audio), "--model", "tiny-whisper", "--format",
                 "verbose_json", "-o", str(out)]) == 0  # fmt: skip
    body = json.loads(out.read_text())
    assert body["duration"] == pytest.approx(5 + recording.duration_s, abs=0.1)
    segments = body["segments"]
    assert segments  # random weights say something for speech
    assert segments[0]["start"] >= 4.0  # file time: the leading silence was not decoded
    assert all(s["end"] <= body["duration"] + 0.01 for s in segments)
