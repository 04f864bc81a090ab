"""Call options: the server's defaults, overrides, and precise errors for bad input."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mediaserver.config import Settings, load_settings
from mediaserver.session.call_options import (
    CALL_OPTION_KEYS,
    CallOptionsError,
    default_call_options,
    parse_call_options,
)


def test_empty_options_are_the_server_settings(settings: Settings) -> None:
    settings = dataclasses.replace(
        settings, models=dataclasses.replace(settings.models, default_stt="whisper-x")
    )
    parsed = parse_call_options({}, settings)
    assert parsed == default_call_options(settings)
    assert parsed.model == "whisper-x"
    assert parsed.vad == settings.vad
    assert parsed.session == settings.session
    assert parsed.language is None  # no server default: detected


def test_the_server_default_language_applies_unless_the_call_names_one_or_auto() -> None:
    settings = load_settings(environ={"MEDIASERVER_SESSION__LANGUAGE": "pt-BR"})
    assert parse_call_options({}, settings).language == "pt"
    assert parse_call_options({"language": "en"}, settings).language == "en"
    assert parse_call_options({"language": "auto"}, settings).language is None
    assert parse_call_options({"language": None}, settings).language is None


def test_model_null_is_a_call_without_transcripts(settings: Settings) -> None:
    assert parse_call_options({"model": None}, settings).model is None
    # An empty default model (the operator's choice) means the same for calls naming none.
    assert parse_call_options({}, settings).model is None
    assert parse_call_options({"model": "wenet-pt"}, settings).model == "wenet-pt"


def test_every_option_overrides_its_setting(settings: Settings) -> None:
    parsed = parse_call_options(
        {
            "model": "wenet-pt",
            "language": "pt-BR",
            "hot_words": ["Itaú", "Bradesco", "Itaú"],
            "vad": {"sensitivity": "low", "min_speech_ms": 100, "speech_pad_ms": 0},
            "timeouts": {"init_s": 5, "silence_s": 12.5, "hold_s": 600, "closing_s": 1},
            "denoise": True,
            "itn": False,
            "entities": False,
            "redact": True,
        },
        settings,
    )
    assert parsed.model == "wenet-pt"
    assert parsed.language == "pt"
    assert parsed.hot_words == ("Itaú", "Bradesco")
    assert parsed.vad.sensitivity == "low"
    assert parsed.vad.min_speech_ms == 100
    assert parsed.vad.speech_pad_ms == 0
    assert parsed.vad.min_silence_ms == settings.vad.min_silence_ms
    assert parsed.session.init_timeout_s == 5.0
    assert parsed.session.silence_timeout_s == 12.5
    assert parsed.session.hold_timeout_s == 600.0
    assert parsed.session.closing_timeout_s == 1.0
    assert parsed.session.ring_buffer_s == settings.session.ring_buffer_s
    assert parsed.audio.denoise is True
    assert (parsed.itn, parsed.entities, parsed.redact) == (False, False, True)


def test_hot_words_may_be_comma_separated(settings: Settings) -> None:
    assert parse_call_options({"hot_words": "pix, CDB,,"}, settings).hot_words == ("pix", "CDB")
    assert parse_call_options({"language": "auto"}, settings).language is None


@pytest.mark.parametrize(
    ("options", "param", "message"),
    [
        ({"codec": "PCMU"}, "codec", "unknown option 'codec'"),
        ({"vad": {"threshold": 0.5}}, "vad.threshold", "unknown option 'vad.threshold'"),
        ({"timeouts": {"idle_s": 1}}, "timeouts.idle_s", "unknown option 'timeouts.idle_s'"),
        ({"model": ""}, "model", "model must be a model name"),
        ({"model": "../etc"}, "model", "model must be a model name"),
        ({"model": 3}, "model", "got a number"),
        ({"language": "portuguese!"}, "language", "language must be a code"),
        ({"hot_words": 5}, "hot_words", "must be an array of strings, got a number"),
        ({"hot_words": ["ok", ""]}, "hot_words", r"hot_words\[1\] must be a non-empty string"),
        ({"hot_words": ["x" * 101]}, "hot_words", "longer than 100 characters"),
        ({"vad": "high"}, "vad", "vad must be an object, got a string"),
        ({"vad": {"sensitivity": "max"}}, "vad.sensitivity", "one of high, normal, low"),
        ({"vad": {"min_speech_ms": -1}}, "vad.min_speech_ms", "0..10000, got -1"),
        ({"vad": {"min_silence_ms": 2.5}}, "vad.min_silence_ms", "integer number of ms"),
        ({"vad": {"speech_pad_ms": True}}, "vad.speech_pad_ms", "integer number of ms"),
        ({"timeouts": {"hold_s": 0}}, "timeouts.hold_s", r"in \(0, 86400\], got 0"),
        ({"timeouts": {"init_s": "5"}}, "timeouts.init_s", "got a string"),
        ({"timeouts": {"silence_s": float("inf")}}, "timeouts.silence_s", "got inf"),
        ({"denoise": "yes"}, "denoise", "denoise must be true or false, got a string"),
        ({"redact": 1}, "redact", "redact must be true or false"),
        ({"barge_in": "on"}, "barge_in", "barge_in must be true or false, got a string"),
        ({"barge_in_min_ms": 50}, "barge_in_min_ms", "100..10000, got 50"),
        ({"barge_in_min_ms": 300.0}, "barge_in_min_ms", "integer number of ms"),
        ({"barge_in_min_ms": True}, "barge_in_min_ms", "integer number of ms"),
    ],
)
def test_bad_options_name_the_key(
    settings: Settings, options: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(CallOptionsError, match=message) as exc:
        parse_call_options(options, settings)
    assert exc.value.param == param
    assert isinstance(exc.value, ValueError)


def test_barge_in_is_off_by_default_and_per_call(settings: Settings) -> None:
    default = parse_call_options({}, settings)
    assert (default.barge_in, default.barge_in_min_ms) == (False, 300)
    chosen = parse_call_options({"barge_in": True, "barge_in_min_ms": 450}, settings)
    assert (chosen.barge_in, chosen.barge_in_min_ms) == (True, 450)


def test_not_an_object(settings: Settings) -> None:
    with pytest.raises(CallOptionsError, match="must be a JSON object, got an array"):
        parse_call_options([], settings)  # type: ignore[arg-type]


def test_the_documented_keys() -> None:
    assert (
        frozenset(
            {
                "model",
                "language",
                "hot_words",
                "vad",
                "timeouts",
                "denoise",
                "itn",
                "entities",
                "redact",
                "barge_in",
                "barge_in_min_ms",
            }
        )
        == CALL_OPTION_KEYS
    )
