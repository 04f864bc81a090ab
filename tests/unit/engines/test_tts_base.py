"""The TTS engine contract: argument checks, errors, PCM conversion and the lazy factory."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mediaserver.engines.tts import ENGINES, create_engine, create_tts_engine
from mediaserver.engines.tts.base import (
    UnknownVoiceError,
    check_speed,
    check_text,
    float_to_pcm16,
)


def test_check_text_strips_and_refuses_nothing() -> None:
    assert check_text("  Olá \n") == "Olá"
    for bad in ("", " \t\n"):
        with pytest.raises(ValueError, match="empty"):
            check_text(bad)
    with pytest.raises(ValueError, match="string"):
        check_text(b"Ola")  # type: ignore[arg-type]


@pytest.mark.parametrize("speed", [0.5, 1, 1.25, 2.0])
def test_check_speed_accepts_the_range(speed: float) -> None:
    assert check_speed(speed) == float(speed)


@pytest.mark.parametrize("speed", [0.49, 2.5, -1.0, float("inf"), float("nan"), True, "1"])
def test_check_speed_refuses_the_rest(speed: object) -> None:
    with pytest.raises(ValueError, match="speed"):
        check_speed(speed)  # type: ignore[arg-type]


def test_float_to_pcm16_scales_and_clips() -> None:
    pcm = float_to_pcm16(np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0], np.float32))
    assert pcm.dtype == np.int16
    assert pcm.tolist() == [0, 16384, -16384, 32767, -32767, 32767, -32767]


def test_unknown_voice_error_names_a_few_voices() -> None:
    error = UnknownVoiceError("xx", [f"v{i:02d}" for i in range(30)], "espeak-ng")
    assert isinstance(error, ValueError)
    assert "unknown espeak-ng voice 'xx'" in str(error)
    assert "v00, v01" in str(error)
    assert "(30 in all)" in str(error)
    assert "v29" not in str(error)
    assert "none" in str(UnknownVoiceError("xx", [], "kokoro"))


def test_factory_knows_both_engines() -> None:
    assert set(ENGINES) == {"kokoro", "espeak-ng"}
    assert create_tts_engine("espeak-ng").name == "espeak-ng"
    assert create_engine is create_tts_engine  # the name the worker looks up
    with pytest.raises(ValueError, match="unknown TTS engine 'piper'"):
        create_tts_engine("piper")


def test_espeak_and_the_cache_never_import_torch() -> None:
    code = (
        "import sys\n"
        "from mediaserver.engines.tts import create_tts_engine\n"
        "import mediaserver.engines.tts.cache\n"
        "create_tts_engine('espeak-ng')\n"
        "assert 'torch' not in sys.modules and 'kokoro' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
