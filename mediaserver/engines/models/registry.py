"""Installed models: a directory of model directories, each with a `mediaserver.toml` manifest.

Installing is atomic: files go into a hidden staging directory next to the final one, are checked
against what the engine needs, get their manifest, and only then are renamed into place. A failed
or interrupted install leaves nothing that `list` or `get` would see.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from mediaserver.engines.base import ModelInfo, ModelLoadError, ModelNotFoundError
from mediaserver.engines.models.catalog import Catalog
from mediaserver.engines.models.layout import (
    ModelLayoutError,
    check_layout,
    detect_engine,
    detected_config,
    detected_voices,
    missing_files,
)
from mediaserver.engines.models.manifest import (
    ENGINE_TRAITS,
    MANIFEST_FILE,
    EngineName,
    Manifest,
    ManifestError,
    Source,
    validate_name,
)
from mediaserver.engines.models.suggestions import closest

if TYPE_CHECKING:
    from mediaserver.config import Settings

CopyProgress = Callable[[int, int], None]  # (bytes copied so far, bytes in total)
Filler = Callable[[Path], None]  # puts a model's files into the staging directory it is given

_STAGING_PREFIX: Final = ".staging-"
_TRASH_PREFIX: Final = ".removing-"
_CHUNK: Final = 1 << 20
# Directories the server keeps next to the models for itself (`cache/itn`: compiled ITN
# grammars); never a model, and no model may take their name.
RESERVED_NAMES: Final = frozenset({"cache"})


class ModelExistsError(ValueError):
    """A model of that name is already installed."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"model {name!r} is already installed; remove it first with `mediaserver rm {name}` "
            "or install under another name with --name"
        )
        self.name = name


@dataclass(frozen=True, slots=True)
class InstalledModel:
    manifest: Manifest
    path: Path | None  # None for builtin engines, which have no files

    @property
    def name(self) -> str:
        return self.manifest.name

    def model_info(self) -> ModelInfo:
        """What a worker passes to `engine.load` (builtin engines get an empty path)."""
        m = self.manifest
        return ModelInfo(
            name=m.name,
            path=self.path if self.path is not None else Path(),
            engine=m.engine,
            config=dict(m.config),
            threads=m.resources.threads,
        )

    def to_dict(self) -> dict[str, object]:
        return {**self.manifest.to_dict(), "path": None if self.path is None else str(self.path)}


class Registry:
    def __init__(
        self,
        root: Path,
        catalog: Catalog | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.root = root
        self.catalog = catalog if catalog is not None else Catalog.load()
        self._now = now

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls(settings.models.path)

    def path_of(self, name: str) -> Path:
        """The directory model `name` lives (or would live) in; rejects traversal."""
        if name in RESERVED_NAMES:
            raise ValueError(
                f"{name!r} is reserved for the server's own files; choose another name"
            )
        return self.root / validate_name(name)

    # --- reading -------------------------------------------------------------------------

    def scan(self) -> tuple[list[InstalledModel], list[tuple[Path, str]]]:
        """Installed models (builtin engines included) and the directories that are broken."""
        models: dict[str, InstalledModel] = {}
        problems: list[tuple[Path, str]] = []
        for path in self._model_dirs():
            try:
                manifest = Manifest.load(path)
            except ManifestError as exc:
                problems.append((path, str(exc)))
                continue
            if manifest.name != path.name:
                problems.append((path, f"manifest names {manifest.name!r}, not {path.name!r}"))
                continue
            models[path.name] = InstalledModel(manifest, path)
        for entry in self.catalog.values():
            if entry.builtin and entry.name not in models:
                models[entry.name] = InstalledModel(entry.manifest(), None)
        return sorted(models.values(), key=lambda m: m.name), problems

    def installed(self) -> list[InstalledModel]:
        return self.scan()[0]

    def get(self, name: str) -> InstalledModel:
        """The installed model `name`; `ModelNotFoundError` names the command that installs it."""
        path = self.path_of(name)
        if not path.is_dir():
            entry = self.catalog.get(name)
            if entry is not None and entry.builtin:
                return InstalledModel(entry.manifest(), None)
            raise self._not_found(name)
        try:
            manifest = Manifest.load(path)
        except ManifestError as exc:
            raise ModelLoadError(
                f"model {name!r} has a broken manifest ({exc}); reinstall it with "
                f"`mediaserver rm {name} -y` then `mediaserver pull {name}`"
            ) from None
        if manifest.name != name:
            raise ModelLoadError(f"{path / MANIFEST_FILE} names {manifest.name!r}, not {name!r}")
        return InstalledModel(manifest, path)

    def _not_found(self, name: str) -> ModelNotFoundError:
        """The error for `name`, suggesting an installed name first, then a catalog one (none
        for a catalog name: it is spelled right, `mediaserver pull` installs it)."""
        if name in self.catalog:
            return ModelNotFoundError(name)
        installed = [p.name for p in self._model_dirs()]
        installed += [e.name for e in self.catalog.values() if e.builtin]
        if (match := closest(name, installed)) is not None:
            return ModelNotFoundError(name, suggestion=match, installed=True)
        return ModelNotFoundError(name, suggestion=closest(name, self.catalog))

    def is_installed(self, name: str) -> bool:
        return self.path_of(name).is_dir()

    def _model_dirs(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and not path.name.startswith(".") and path.name not in RESERVED_NAMES:
                yield path

    # --- writing -------------------------------------------------------------------------

    def remove(self, name: str) -> InstalledModel:
        """Delete an installed model; it disappears at once (renamed away, then deleted)."""
        model = self.get(name)
        if model.path is None:
            raise ValueError(f"model {name!r} is builtin (no files) and cannot be removed")
        trash = Path(tempfile.mkdtemp(prefix=f"{_TRASH_PREFIX}{name}-", dir=self.root))
        os.rename(model.path, trash / name)
        shutil.rmtree(trash, ignore_errors=True)
        return model

    def install(self, template: Manifest, fill: Filler, origin: str = "") -> InstalledModel:
        """Stage, check and publish a model; `fill` puts the files into the staging directory.

        The manifest gets the files' total size and the install time; engine options detected
        from the files fill in keys the template lacks. `origin` is what an incomplete model is
        called in the error (the user's directory, the repository), never the staging folder.
        """
        name = template.name
        target = self.path_of(name)
        if target.exists():
            raise ModelExistsError(name)
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{name}-", dir=self.root))
        try:
            fill(staging)
            (staging / MANIFEST_FILE).unlink(missing_ok=True)
            missing = missing_files(staging, template.engine)
            if missing:
                raise ModelLayoutError(
                    f"{origin or 'the files of ' + name} is not a complete {template.engine} "
                    f"model: missing {', '.join(missing)}"
                )
            manifest = dataclasses.replace(
                template,
                config={**detected_config(staging, template.engine), **template.config},
                voices=template.voices or detected_voices(staging, template.engine),
                size_bytes=_tree_size(staging),
                installed_at=self._now(),
            )
            manifest.write(staging)
            _publish(staging, target, name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return InstalledModel(manifest, target)

    def import_dir(
        self,
        source: Path,
        *,
        name: str,
        catalog_name: str | None = None,
        engine: EngineName | None = None,
        progress: CopyProgress | None = None,
    ) -> InstalledModel:
        """Copy a local model directory in (`mediaserver pull NAME --from DIR [--name ALIAS]`).

        Metadata comes from the directory's own manifest if it has one, else from the catalog
        entry `catalog_name` (default `name`), else from the engine (given or detected).
        """
        validate_name(name)
        if not source.is_dir():
            raise ValueError(f"{source} is not a directory")
        source = source.resolve()
        template = self._import_template(source, name, catalog_name or name, engine)
        template = dataclasses.replace(template, source=Source("local", path=str(source)))
        # Before copying (a large model takes a while): the error names the user's directory.
        check_layout(source, template.engine)
        return self.install(
            template, lambda staging: copy_tree(source, staging, progress), origin=str(source)
        )

    def _import_template(
        self, source: Path, name: str, catalog_name: str, engine: EngineName | None
    ) -> Manifest:
        if (source / MANIFEST_FILE).is_file():
            own = Manifest.load(source)
            if engine is None or engine == own.engine:
                return dataclasses.replace(own, name=name)
        entry = self.catalog.get(catalog_name)
        if entry is not None and not entry.builtin and engine in (None, entry.engine):
            return entry.manifest(name)
        engine = engine or detect_engine(source)
        traits = ENGINE_TRAITS[engine]
        return Manifest(
            name=name,
            engine=engine,
            type=traits.type,
            architecture=traits.architecture,
            capabilities=traits.capabilities,
            source=Source("local", path=str(source)),
        )


def _publish(staging: Path, target: Path, name: str) -> None:
    try:
        # rename(2) onto an existing non-empty directory fails: a concurrent install loses.
        os.rename(staging, target)
    except OSError:
        if target.exists():
            raise ModelExistsError(name) from None
        raise


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _files_to_copy(source: Path) -> list[Path]:
    """Regular files under `source`, relative; hidden entries (.git, .cache) are skipped."""
    files: list[Path] = []
    for directory, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(directory)
        for filename in sorted(filenames):
            path = base / filename
            # Hub caches hold symlinks to blobs: copy what they point at.
            if not filename.startswith(".") and path.is_file():
                files.append(path.relative_to(source))
    return files


def copy_tree(source: Path, dest: Path, progress: CopyProgress | None = None) -> None:
    """Copy `source` into the existing directory `dest`, reporting bytes as they go."""
    files = _files_to_copy(source)
    total = sum((source / f).stat().st_size for f in files)
    done = 0
    if progress is not None:
        progress(0, total)
    for rel in files:
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        with (source / rel).open("rb") as src, out.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        shutil.copystat(source / rel, out, follow_symlinks=True)
