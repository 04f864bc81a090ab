"""The catalog of pullable models (`mediaserver/conf/models.toml`, symlinked as `conf/models.toml`).

The catalog file ships inside the package so that an installed wheel can `pull` without a source
checkout; `conf/models.toml` in the repository is a symlink to the same file (one source of truth).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from mediaserver.engines.base import Capabilities
from mediaserver.engines.models.manifest import (
    ENGINE_TRAITS,
    ENGINES,
    EngineName,
    Manifest,
    ManifestError,
    Resources,
    Source,
    TableReader,
    parse_capabilities,
    parse_config,
    parse_resources,
    validate_name,
)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    name: str
    engine: EngineName
    repo: str  # "" for builtin engines (nothing to download)
    files: tuple[str, ...]  # allow_patterns for the hub download
    revision: str = ""
    download_mb: int = 0
    description: str = ""
    languages: tuple[str, ...] = ()
    voices: tuple[str, ...] = ()
    capabilities: Capabilities = field(default_factory=Capabilities)
    resources: Resources = field(default_factory=Resources)
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def builtin(self) -> bool:
        return not self.repo

    def manifest(
        self,
        name: str | None = None,
        *,
        source: Source | None = None,
        size_bytes: int = 0,
        installed_at: datetime | None = None,
    ) -> Manifest:
        """The manifest a model installed from this entry gets (under `name`, default its own)."""
        traits = ENGINE_TRAITS[self.engine]
        if source is None:
            source = (
                Source("builtin")
                if self.builtin
                else Source("hub", repo=self.repo, revision=self.revision)
            )
        return Manifest(
            name=name or self.name,
            engine=self.engine,
            type=traits.type,
            architecture=traits.architecture,
            capabilities=self.capabilities,
            source=source,
            languages=self.languages,
            voices=self.voices,
            resources=self.resources,
            config=dict(self.config),
            size_bytes=size_bytes,
            installed_at=installed_at,
        )


class Catalog(Mapping[str, CatalogEntry]):
    """Read-only name -> entry mapping, in file order."""

    def __init__(self, entries: Mapping[str, CatalogEntry]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> CatalogEntry:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def parse(cls, text: str, where: str = "models.toml") -> Catalog:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(f"{where}: not valid TOML: {exc}") from None
        root = TableReader(data, where)
        models = root.table("models")
        root.finish()
        entries: dict[str, CatalogEntry] = {}
        for name in models.data:
            entries[name] = _parse_entry(name, models.table(name))
        return cls(entries)

    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        """The catalog at `path`, or the one shipped in the package."""
        if path is not None:
            return cls.parse(path.read_text(encoding="utf-8"), str(path))
        packaged = resources.files("mediaserver").joinpath("conf", "models.toml")
        return cls.parse(packaged.read_text(encoding="utf-8"), "mediaserver/conf/models.toml")


def _parse_entry(name: str, r: TableReader) -> CatalogEntry:
    try:
        validate_name(name)
    except ValueError as exc:
        raise ManifestError(f"{r.where}: {exc}") from None
    engine = r.choice("engine", ENGINES)
    repo = r.get("repo", str, "")
    files = r.strings("files")
    if repo and not files:
        raise r.error("files", "required with repo (the files to download)")
    entry = CatalogEntry(
        name=name,
        engine=engine,
        repo=repo,
        files=files,
        revision=r.get("revision", str, ""),
        download_mb=r.get("download_mb", int, 0),
        description=r.get("description", str, ""),
        languages=r.strings("languages"),
        voices=r.strings("voices"),
        capabilities=parse_capabilities(r.table("capabilities"), ENGINE_TRAITS[engine]),
        resources=parse_resources(r.table("resources")),
        config=parse_config(r.table("config")),
    )
    r.finish()
    return entry
