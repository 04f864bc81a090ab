"""The manifest of an installed model: `mediaserver.toml` inside the model's directory.

A model is a directory holding the engine's files plus this manifest, which says which engine
loads it, what it can do and where it came from. Parsing is strict: an unknown key, a wrong type
or an engine/architecture mismatch is a `ManifestError` naming the offending key.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, get_args

from mediaserver.engines.base import Architecture, Capabilities

MANIFEST_FILE: Final = "mediaserver.toml"

EngineName = Literal["faster-whisper", "wenet-ctc", "kokoro", "espeak-ng"]
ModelType = Literal["stt", "tts"]
SourceKind = Literal["hub", "local", "builtin"]
ENGINES: Final[tuple[EngineName, ...]] = get_args(EngineName)

# Names become directory names and appear in URLs: keep them boring. A leading alphanumeric
# rules out "." / ".." and hidden temporary directories.
_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ManifestError(ValueError):
    """A manifest (or a catalog entry) is malformed; the message names the key."""


def validate_name(name: str) -> str:
    """Return `name` if it is a valid model name, else raise `ValueError` saying why."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class EngineTraits:
    """What an engine is, independent of any particular model file."""

    type: ModelType
    architecture: Architecture | None
    capabilities: Capabilities


ENGINE_TRAITS: Final[Mapping[EngineName, EngineTraits]] = {
    "faster-whisper": EngineTraits(
        "stt",
        Architecture.ENCODER_DECODER,
        Capabilities(
            hot_words=True,
            initial_prompt=True,
            translation=True,
            language_detection=True,
            word_timestamps=True,
        ),
    ),
    # sherpa-onnx decodes WeNet CTC models greedily: no biasing, no prompt, native partials.
    "wenet-ctc": EngineTraits("stt", Architecture.CTC, Capabilities(native_partials=True)),
    "kokoro": EngineTraits("tts", None, Capabilities()),
    "espeak-ng": EngineTraits("tts", None, Capabilities()),
}


@dataclass(frozen=True, slots=True)
class Resources:
    memory_mb: int = 0  # resident memory once loaded, roughly; 0 = unknown
    threads: int = 0  # recommended intra-op threads; 0 = engine default
    gpu_recommended: bool = False


@dataclass(frozen=True, slots=True)
class Source:
    kind: SourceKind
    repo: str = ""  # hub repository id, for kind="hub"
    revision: str = ""  # hub revision (branch, tag or commit); "" = default branch
    path: str = ""  # directory imported from, for kind="local"


ConfigValue = str | int | float | bool | list[str] | list[int] | list[float]


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    engine: EngineName
    type: ModelType
    architecture: Architecture | None  # None for TTS
    capabilities: Capabilities
    source: Source
    languages: tuple[str, ...] = ()  # "auto" = any language the model detects
    voices: tuple[str, ...] = ()  # TTS voices shipped with the model
    resources: Resources = field(default_factory=Resources)
    # Engine options (compute_type, which .onnx file, ...), passed through as ModelInfo.config.
    config: Mapping[str, Any] = field(default_factory=dict)
    size_bytes: int = 0
    installed_at: datetime | None = None

    def __post_init__(self) -> None:
        _check_consistency(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly data (`inspect`, the REST API)."""
        return {
            "name": self.name,
            "engine": self.engine,
            "type": self.type,
            "architecture": None if self.architecture is None else str(self.architecture),
            "languages": list(self.languages),
            "voices": list(self.voices),
            "capabilities": dataclasses.asdict(self.capabilities),
            "resources": dataclasses.asdict(self.resources),
            "config": dict(self.config),
            "source": dataclasses.asdict(self.source),
            "size_bytes": self.size_bytes,
            "installed_at": None if self.installed_at is None else _iso(self.installed_at),
        }

    def to_toml(self) -> str:
        data = self.to_dict()
        for key in ("architecture", "installed_at"):
            if data[key] is None:
                del data[key]
        if self.installed_at is not None:
            data["installed_at"] = self.installed_at
        return dump_toml(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "manifest") -> Manifest:
        return _parse_manifest(data, where)

    @classmethod
    def from_toml(cls, text: str, where: str = "manifest") -> Manifest:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(f"{where}: not valid TOML: {exc}") from None
        return _parse_manifest(data, where)

    @classmethod
    def load(cls, model_dir: Path) -> Manifest:
        path = model_dir / MANIFEST_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ManifestError(f"{path}: missing (not a model directory)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: cannot be read: {exc}") from None
        return cls.from_toml(text, str(path))

    def write(self, model_dir: Path) -> Path:
        path = model_dir / MANIFEST_FILE
        path.write_text(self.to_toml(), encoding="utf-8")
        return path


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_consistency(m: Manifest) -> None:
    """Constructor-level invariants; `_parse_manifest` has already checked the types."""
    validate_name(m.name)
    traits = ENGINE_TRAITS.get(m.engine)
    if traits is None:
        raise ManifestError(f"engine: unknown engine {m.engine!r} (known: {', '.join(ENGINES)})")
    if m.type != traits.type:
        raise ManifestError(f"type: engine {m.engine} is {traits.type}, not {m.type}")
    if m.architecture != traits.architecture:
        expected = "absent" if traits.architecture is None else str(traits.architecture)
        raise ManifestError(f"architecture: must be {expected} for engine {m.engine}")
    if m.size_bytes < 0:
        raise ManifestError("size_bytes: must be >= 0")
    if m.resources.memory_mb < 0 or m.resources.threads < 0:
        raise ManifestError("resources: memory_mb and threads must be >= 0")
    if m.source.kind == "hub" and not m.source.repo:
        raise ManifestError("source.repo: required when source.kind is 'hub'")
    if m.installed_at is not None and m.installed_at.tzinfo is None:
        raise ManifestError("installed_at: must carry a time zone (e.g. ...Z)")


# --- parsing ---------------------------------------------------------------------------------


class TableReader:
    """Takes typed values out of one TOML table, remembering where it is for error messages."""

    def __init__(self, data: Any, where: str, prefix: str = "") -> None:
        if not isinstance(data, Mapping):
            raise ManifestError(f"{where}: {prefix.rstrip('.') or 'document'} must be a table")
        self.data = dict(data)
        self.where = where
        self.prefix = prefix
        self.seen: set[str] = set()

    def error(self, key: str, message: str) -> ManifestError:
        return ManifestError(f"{self.where}: {self.prefix}{key}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise self.error(key, "required")
            return default
        value = self.data[key]
        # bool is an int subclass: never accept it where a number is wanted.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            raise self.error(key, f"expected {_kind_name(kind)}, got {type(value).__name__}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.get(key, list, [])
        if not all(isinstance(item, str) and item for item in items):
            raise self.error(key, "expected a list of non-empty strings")
        return tuple(items)

    def table(self, key: str) -> TableReader:
        self.seen.add(key)
        return TableReader(self.data.get(key, {}), self.where, f"{self.prefix}{key}.")

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> Any:
        value = self.get(key, str, default)
        if value is not default and value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    names |= {list: "a list", datetime: "a date-time", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in _kinds(kind))


def _parse_manifest(data: Mapping[str, Any], where: str) -> Manifest:
    r = TableReader(data, where)
    name = r.get("name", str)
    try:
        validate_name(name)
    except ValueError as exc:
        raise r.error("name", str(exc)) from None
    engine = r.choice("engine", ENGINES)
    model_type = r.choice("type", ("stt", "tts"))
    arch_text = r.choice("architecture", tuple(a.value for a in Architecture), None)
    languages = r.strings("languages")
    voices = r.strings("voices")
    size = r.get("size_bytes", int, 0)
    installed_at = _parse_time(r)
    capabilities = parse_capabilities(r.table("capabilities"), ENGINE_TRAITS[engine])
    source = _parse_source(r.table("source"))
    resources = parse_resources(r.table("resources"))
    config = parse_config(r.table("config"))
    r.finish()
    try:
        return Manifest(
            name=name,
            engine=engine,
            type=model_type,
            architecture=None if arch_text is None else Architecture(arch_text),
            capabilities=capabilities,
            source=source,
            languages=languages,
            voices=voices,
            resources=resources,
            config=config,
            size_bytes=size,
            installed_at=installed_at,
        )
    except ManifestError as exc:
        raise ManifestError(f"{where}: {exc}") from None


def _parse_time(r: TableReader) -> datetime | None:
    value: datetime | str | None = r.get("installed_at", (datetime, str), None)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise r.error("installed_at", f"not an ISO 8601 date-time: {value!r}") from None
    if value is not None and value.tzinfo is None:
        raise r.error("installed_at", "must carry a time zone (e.g. ...Z)")
    return value


def parse_capabilities(r: TableReader, traits: EngineTraits) -> Capabilities:
    """Capabilities default to the engine's; a manifest may only switch them on or off."""
    values = {
        f.name: r.get(f.name, bool, getattr(traits.capabilities, f.name))
        for f in dataclasses.fields(Capabilities)
    }
    r.finish()
    return Capabilities(**values)


def parse_resources(r: TableReader) -> Resources:
    resources = Resources(
        memory_mb=r.get("memory_mb", int, 0),
        threads=r.get("threads", int, 0),
        gpu_recommended=r.get("gpu_recommended", bool, False),
    )
    r.finish()
    return resources


def _parse_source(r: TableReader) -> Source:
    source = Source(
        kind=r.choice("kind", ("hub", "local", "builtin")),
        repo=r.get("repo", str, ""),
        revision=r.get("revision", str, ""),
        path=r.get("path", str, ""),
    )
    r.finish()
    return source


def parse_config(r: TableReader) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, value in r.data.items():
        r.seen.add(key)
        if isinstance(value, list):
            if not all(isinstance(v, str | int | float) for v in value):
                raise r.error(key, "lists may hold only strings and numbers")
        elif not isinstance(value, str | int | float | bool):
            raise r.error(key, f"unsupported value of type {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise r.error(key, "must be finite")
        config[key] = value
    return config


# --- writing ---------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML for the shapes manifests use: scalars, lists of scalars, one level of tables."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, table in tables:
        lines.append(f"\n[{_key(key)}]")
        for sub, value in table.items():
            if isinstance(value, Mapping):
                raise TypeError(f"nested table {key}.{sub} is not supported")
            lines.append(f"{_key(sub)} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r} here")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
