"""The bound on decode time per window: the temperature fallback ladder is capped."""

from __future__ import annotations

import pytest

from mediaserver.engines.base import ModelLoadError, TranscribeOptions
from mediaserver.engines.stt.whisper_settings import WhisperSettings, capped_temperature


def test_the_ladder_keeps_its_first_temperature_and_at_most_n_fallbacks() -> None:
    ladder = TranscribeOptions().temperature
    assert capped_temperature(ladder, 0) == (0.0,)
    assert capped_temperature(ladder, 1) == (0.0, 0.2)
    assert capped_temperature(ladder, 99) == ladder
    assert capped_temperature(0.4, 0) == 0.4  # one fixed temperature asked for: kept


def test_fallbacks_come_from_the_model_config() -> None:
    assert WhisperSettings.from_config({}).temperature_fallbacks == 1
    assert WhisperSettings.from_config({"temperature_fallbacks": 0}).temperature_fallbacks == 0
    for bad in (-1, 1.5, True):
        with pytest.raises(ModelLoadError, match="temperature_fallbacks"):
            WhisperSettings.from_config({"temperature_fallbacks": bad})
