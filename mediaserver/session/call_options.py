"""The options a call is created with (the call-creation JSON), validated into one typed object.

Every transport creates calls from the same options (`POST /v1/calls`, the WebRTC offer, the
realtime WebSocket's query/configure message, an AudioSocket default): `model`, `language`,
`hot_words`, `vad` {sensitivity, min_speech_ms, min_silence_ms, speech_pad_ms}, `timeouts`
{init_s, silence_s, hold_s, closing_s}, `denoise`, `itn`, `entities`, `redact`, `barge_in`,
`barge_in_min_ms` (while the call speaks TTS; see `transports.speaker`). Missing keys take
the server's settings (`models.default_stt`, `session.language`); unknown keys are rejected, so
a typo never silently does nothing. `"model": null` asks for a call without speech recognition
(VAD, DTMF, playback); `"language": "auto"` asks for detection whatever the server's default.

Pure: a mapping in, a `CallOptions` out, or a `CallOptionsError` naming the offending key.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, get_args

from mediaserver.config import (
    LANGUAGE_RE,
    AudioSettings,
    Sensitivity,
    SessionSettings,
    Settings,
    VadSettings,
)

CALL_OPTION_KEYS: Final = frozenset(
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
VAD_KEYS: Final = ("sensitivity", "min_speech_ms", "min_silence_ms", "speech_pad_ms")
TIMEOUT_KEYS: Final = {
    "init_s": "init_timeout_s",
    "silence_s": "silence_timeout_s",
    "hold_s": "hold_timeout_s",
    "closing_s": "closing_timeout_s",
}
MAX_VAD_MS: Final = 10_000
MAX_TIMEOUT_S: Final = 24 * 3600.0
MAX_HOT_WORDS: Final = 200
MAX_HOT_WORD_CHARS: Final = 100
DEFAULT_BARGE_IN_MIN_MS: Final = 300
MIN_BARGE_IN_MS: Final = 100  # shorter is a cough or a click, not someone talking over us
_MODEL_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class CallOptionsError(ValueError):
    """Bad call options; `param` is the offending key (dotted for nested ones)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class CallOptions:
    model: str | None  # None: no speech recognition (VAD, DTMF and playback only)
    language: str | None
    hot_words: tuple[str, ...]
    vad: VadSettings
    session: SessionSettings
    audio: AudioSettings
    itn: bool
    entities: bool
    redact: bool
    # While the call speaks: caller speech this long cancels the playback (off by default).
    barge_in: bool = False
    barge_in_min_ms: int = DEFAULT_BARGE_IN_MIN_MS


def default_call_options(settings: Settings) -> CallOptions:
    post = settings.postprocess
    return CallOptions(
        model=settings.models.default_stt or None,
        language=_base_language(settings.session.language) if settings.session.language else None,
        hot_words=post.hot_words,
        vad=settings.vad,
        session=settings.session,
        audio=settings.audio,
        itn=post.itn,
        entities=post.entities,
        redact=post.redact,
    )


def parse_call_options(options: Mapping[str, Any], settings: Settings) -> CallOptions:
    """Validate `options` over the server's defaults; raises `CallOptionsError`."""
    if not isinstance(options, Mapping):
        raise CallOptionsError("", f"call options must be a JSON object, got {_kind(options)}")
    _reject_unknown(options, CALL_OPTION_KEYS, "")
    base = default_call_options(settings)
    changes: dict[str, Any] = {}
    if "model" in options:
        changes["model"] = _model(options["model"])
    if "language" in options:
        changes["language"] = _language(options["language"])
    if "hot_words" in options:
        changes["hot_words"] = _hot_words(options["hot_words"])
    if "vad" in options:
        changes["vad"] = _vad(options["vad"], base.vad)
    if "timeouts" in options:
        changes["session"] = _timeouts(options["timeouts"], base.session)
    if "denoise" in options:
        changes["audio"] = dataclasses.replace(
            base.audio, denoise=_bool(options["denoise"], "denoise")
        )
    if "barge_in_min_ms" in options:
        changes["barge_in_min_ms"] = _barge_in_ms(options["barge_in_min_ms"])
    for key in ("itn", "entities", "redact", "barge_in"):
        if key in options:
            changes[key] = _bool(options[key], key)
    return dataclasses.replace(base, **changes)


def _reject_unknown(options: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in options if key not in known)
    if unknown:
        choices = ", ".join(sorted(known))
        name = f"{where}{unknown[0]}"
        raise CallOptionsError(name, f"unknown option {name!r} (known: {choices})")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _model(value: object) -> str | None:
    if value is None:
        return None  # asked for explicitly: a call without transcripts
    if not isinstance(value, str) or not _MODEL_RE.fullmatch(value):
        raise CallOptionsError(
            "model",
            "model must be a model name (1-64 letters, digits, '.', '_' or '-') or null, "
            f"got {_kind(value) if not isinstance(value, str) else repr(value)}",
        )
    return value


def _language(value: object) -> str | None:
    if value is None or value == "auto":
        return None
    if not isinstance(value, str) or not LANGUAGE_RE.fullmatch(value):
        shown = repr(value) if isinstance(value, str) else _kind(value)
        raise CallOptionsError(
            "language", f"language must be a code like 'pt' or 'pt-BR' (or 'auto'), got {shown}"
        )
    return _base_language(value)


def _base_language(code: str) -> str:
    # Engines know languages by their base code ("pt"), whatever region the client names.
    return re.split(r"[-_]", code)[0].lower()


def _hot_words(value: object) -> tuple[str, ...]:
    items: list[object]
    if isinstance(value, str):
        items = [item for item in value.split(",") if item.strip()]
    elif isinstance(value, list):
        items = list(value)
    else:
        raise CallOptionsError(
            "hot_words", f"hot_words must be an array of strings, got {_kind(value)}"
        )
    if len(items) > MAX_HOT_WORDS:
        raise CallOptionsError(
            "hot_words", f"hot_words holds {len(items)} entries; at most {MAX_HOT_WORDS}"
        )
    words: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise CallOptionsError(
                "hot_words", f"hot_words[{index}] must be a non-empty string, got {_kind(item)}"
            )
        if len(item) > MAX_HOT_WORD_CHARS:
            raise CallOptionsError(
                "hot_words", f"hot_words[{index}] is longer than {MAX_HOT_WORD_CHARS} characters"
            )
        words.append(item.strip())
    return tuple(dict.fromkeys(words))


def _object(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CallOptionsError(name, f"{name} must be an object, got {_kind(value)}")
    return value


def _vad(value: object, base: VadSettings) -> VadSettings:
    table = _object(value, "vad")
    _reject_unknown(table, frozenset(VAD_KEYS), "vad.")
    changes: dict[str, Any] = {}
    if "sensitivity" in table:
        choices = get_args(Sensitivity)
        level = table["sensitivity"]
        if level not in choices:
            shown = repr(level) if isinstance(level, str) else _kind(level)
            raise CallOptionsError(
                "vad.sensitivity",
                f"vad.sensitivity must be one of {', '.join(choices)}, got {shown}",
            )
        changes["sensitivity"] = level
    for key in VAD_KEYS[1:]:
        if key in table:
            changes[key] = _int_ms(table[key], f"vad.{key}")
    return dataclasses.replace(base, **changes)


def _int_ms(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VAD_MS:
        shown = repr(value) if isinstance(value, int | float) else _kind(value)
        raise CallOptionsError(
            name, f"{name} must be an integer number of ms in 0..{MAX_VAD_MS}, got {shown}"
        )
    return value


def _barge_in_ms(value: object) -> int:
    name = "barge_in_min_ms"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_BARGE_IN_MS <= value <= MAX_VAD_MS
    ):
        shown = repr(value) if isinstance(value, int | float) else _kind(value)
        raise CallOptionsError(
            name,
            f"{name} must be an integer number of ms in {MIN_BARGE_IN_MS}..{MAX_VAD_MS}, "
            f"got {shown}",
        )
    return value


def _timeouts(value: object, base: SessionSettings) -> SessionSettings:
    table = _object(value, "timeouts")
    _reject_unknown(table, frozenset(TIMEOUT_KEYS), "timeouts.")
    changes: dict[str, Any] = {}
    for key, field_name in TIMEOUT_KEYS.items():
        if key not in table:
            continue
        seconds = table[key]
        name = f"timeouts.{key}"
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 < seconds <= MAX_TIMEOUT_S
        ):
            shown = repr(seconds) if isinstance(seconds, int | float) else _kind(seconds)
            raise CallOptionsError(
                name, f"{name} must be a number of seconds in (0, {MAX_TIMEOUT_S:g}], got {shown}"
            )
        changes[field_name] = float(seconds)
    return dataclasses.replace(base, **changes)


def _bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise CallOptionsError(name, f"{name} must be true or false, got {_kind(value)}")
    return value
