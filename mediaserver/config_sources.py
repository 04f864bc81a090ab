"""Where settings come from and how raw values become typed ones: TOML files, the
environment (``MEDIASERVER_<SECTION>__<KEY>`` and the short forms), coercion to each field's
type with errors that name the file or variable at fault. `config.py` holds the settings."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal


class ConfigError(ValueError):
    """The configuration given by the user is invalid; the message says where and why."""


ENV_PREFIX = "MEDIASERVER_"
_SHORT_ENV = {
    "MEDIASERVER_MODELS_DIR": ("models", "dir"),
    "MEDIASERVER_API_KEYS": ("server", "api_keys"),
    "MEDIASERVER_AUTO_UNLOAD": ("models", "auto_unload_s"),
}


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def env_layer(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    layer: dict[str, dict[str, Any]] = {}
    for name, value in env.items():
        if name in _SHORT_ENV:
            section, key = _SHORT_ENV[name]
        elif name.startswith(ENV_PREFIX) and "__" in name:
            section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        else:
            continue
        layer.setdefault(section, {})[key] = _EnvString(value, name)
    return layer


class _EnvString(str):
    """A raw string from the environment; remembers its variable for error messages."""

    origin: str

    def __new__(cls, value: str, origin: str) -> _EnvString:
        obj = super().__new__(cls, value)
        obj.origin = origin
        return obj


def merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            merge(into[key], value)
        elif isinstance(value, Mapping):
            into[key] = {}
            merge(into[key], value)
        else:
            into[key] = value


def build(cls: type[Any], values: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        choices = ", ".join(sorted(known))
        raise ConfigError(f"unknown setting {where}{unknown[0]} (known: {choices})")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise ConfigError(f"setting [{name}] must be a table")
            kwargs[name] = build(hint, value, f"{name}.")  # type: ignore[arg-type]
        else:
            kwargs[name] = _coerce(value, hint, f"{where}{name}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, name: str) -> Any:
    origin = value.origin if isinstance(value, _EnvString) else name
    try:
        return _coerce_value(value, hint)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value for {origin}: {value!r} ({exc})") from None


def _coerce_value(value: Any, hint: Any) -> Any:
    from_env = isinstance(value, _EnvString)
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(str, choices))}")
        return str(value)
    if typing.get_origin(hint) is tuple:
        if from_env:
            return tuple(item.strip() for item in str(value).split(",") if item.strip())
        if not isinstance(value, list | tuple):
            raise TypeError("expected a list")
        return tuple(str(item) for item in value)
    if hint is bool:
        if from_env:
            lowered = str(value).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool):
            raise TypeError("expected an integer")
        return int(value)
    if hint is float:
        if isinstance(value, bool):
            raise TypeError("expected a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError("expected a string")
        return str(value)
    if isinstance(hint, types.UnionType):  # pragma: no cover - no such settings yet
        raise TypeError("union settings are not supported")
    raise TypeError(f"unsupported setting type {hint!r}")
