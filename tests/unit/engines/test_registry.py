from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mediaserver.engines.base import Architecture, ModelLoadError, ModelNotFoundError
from mediaserver.engines.models.layout import ModelLayoutError
from mediaserver.engines.models.manifest import MANIFEST_FILE, Manifest
from mediaserver.engines.models.registry import ModelExistsError, Registry
from tests.unit.engines.model_dirs import layout_size, make_model_dir

NOW = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "models", now=lambda: NOW)


def visible(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_import_detects_engine_and_writes_manifest(registry: Registry, tmp_path: Path) -> None:
    source = make_model_dir(tmp_path / "src", "faster-whisper")
    model = registry.import_dir(source, name="my-whisper")
    assert model.path == registry.root / "my-whisper"
    m = Manifest.load(model.path)
    assert m == model.manifest
    assert (m.engine, m.type, m.architecture) == (
        "faster-whisper",
        "stt",
        Architecture.ENCODER_DECODER,
    )
    assert m.capabilities.initial_prompt is True
    assert m.source.kind == "local"
    assert m.source.path == str(source.resolve())
    assert m.size_bytes == layout_size("faster-whisper")
    assert m.installed_at == NOW
    assert (model.path / "model.bin").read_bytes() == (source / "model.bin").read_bytes()
    assert registry.get("my-whisper") == model


def test_import_under_a_catalog_name_takes_catalog_metadata(
    registry: Registry, tmp_path: Path
) -> None:
    source = make_model_dir(tmp_path / "src", "faster-whisper")
    model = registry.import_dir(source, name="turbo", catalog_name="faster-whisper-large-v3-turbo")
    assert model.manifest.capabilities.translation is False
    assert model.manifest.config["compute_type"] == "int8"
    assert model.manifest.resources.gpu_recommended is True
    assert model.manifest.source.kind == "local"


def test_import_wenet_and_kokoro_fill_config(registry: Registry, tmp_path: Path) -> None:
    wenet = registry.import_dir(make_model_dir(tmp_path / "w", "wenet-ctc"), name="w")
    assert wenet.manifest.architecture is Architecture.CTC
    assert wenet.manifest.config["streaming_model"] == "model-streaming.int8.onnx"
    kokoro = registry.import_dir(make_model_dir(tmp_path / "k", "kokoro"), name="kokoro")
    # Catalog config wins over detection; voices come from the catalog too.
    assert kokoro.manifest.config["model"] == "kokoro-v1_0.pth"
    assert kokoro.manifest.config["lang_code"] == "p"
    assert kokoro.manifest.type == "tts"
    info = kokoro.model_info()
    assert (info.name, info.path, info.engine, info.threads) == ("kokoro", kokoro.path, "kokoro", 2)


def test_directory_with_its_own_manifest_keeps_it(registry: Registry, tmp_path: Path) -> None:
    first = registry.import_dir(make_model_dir(tmp_path / "src", "faster-whisper"), name="a")
    assert first.path is not None
    second = registry.import_dir(first.path, name="b")
    assert second.manifest.engine == "faster-whisper"
    assert second.manifest.name == "b"
    assert Manifest.load(registry.root / "b").name == "b"


def test_incomplete_import_names_missing_file_and_leaves_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    source = make_model_dir(tmp_path / "src", "wenet-ctc", skip=("tokens.txt",))
    with pytest.raises(ModelLayoutError, match=r"missing tokens\.txt"):
        registry.import_dir(source, name="w", engine="wenet-ctc")
    assert visible(registry.root) == []


def test_failure_during_copy_leaves_nothing(registry: Registry, tmp_path: Path) -> None:
    source = make_model_dir(tmp_path / "src", "faster-whisper")
    calls = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        registry.import_dir(source, name="w", progress=progress)
    assert len(calls) == 2
    assert visible(registry.root) == []


def test_progress_reaches_the_total(registry: Registry, tmp_path: Path) -> None:
    source = make_model_dir(tmp_path / "src", "kokoro")
    seen: list[tuple[int, int]] = []
    registry.import_dir(source, name="k", progress=lambda d, t: seen.append((d, t)))
    total = layout_size("kokoro")
    assert seen[0] == (0, total)
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_hidden_entries_skipped_and_symlinks_followed(registry: Registry, tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / "weights").write_bytes(b"\x09" * 64)
    source = make_model_dir(tmp_path / "src", "faster-whisper", skip=("model.bin",))
    os.symlink(blobs / "weights", source / "model.bin")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref")
    model = registry.import_dir(source, name="w")
    assert model.path is not None
    assert not (model.path / ".git").exists()
    assert not (model.path / "model.bin").is_symlink()
    assert (model.path / "model.bin").read_bytes() == b"\x09" * 64


@pytest.mark.parametrize("name", ["../escape", "..", "a/b", ".staging-x"])
def test_traversal_names_rejected_before_anything_happens(
    registry: Registry, tmp_path: Path, name: str
) -> None:
    source = make_model_dir(tmp_path / "src", "faster-whisper")
    with pytest.raises(ValueError, match="invalid model name"):
        registry.import_dir(source, name=name)
    assert not registry.root.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    with pytest.raises(ValueError, match="invalid model name"):
        registry.get(name)
    with pytest.raises(ValueError, match="invalid model name"):
        registry.remove(name)


def test_existing_model_is_not_overwritten(registry: Registry, tmp_path: Path) -> None:
    registry.import_dir(make_model_dir(tmp_path / "a", "faster-whisper"), name="m")
    with pytest.raises(ModelExistsError, match="mediaserver rm m"):
        registry.import_dir(make_model_dir(tmp_path / "b", "kokoro"), name="m")
    assert registry.get("m").manifest.engine == "faster-whisper"
    assert visible(registry.root) == ["m"]


def test_source_must_be_a_directory(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a directory"):
        registry.import_dir(tmp_path / "nope", name="m")


def test_missing_model_names_the_pull_command(registry: Registry) -> None:
    with pytest.raises(ModelNotFoundError, match="mediaserver pull faster-whisper-small"):
        registry.get("faster-whisper-small")


def test_broken_manifest_is_a_load_error_and_skipped_by_scan(
    registry: Registry, tmp_path: Path
) -> None:
    model = registry.import_dir(make_model_dir(tmp_path / "src", "faster-whisper"), name="m")
    assert model.path is not None
    (model.path / MANIFEST_FILE).write_text('name = "m"\nengine = "nope"\n')
    with pytest.raises(ModelLoadError, match="engine: expected one of"):
        registry.get("m")
    models, problems = registry.scan()
    assert "m" not in [x.name for x in models]
    assert [p.name for p, _ in problems] == ["m"]


def test_manifest_name_must_match_directory(registry: Registry, tmp_path: Path) -> None:
    model = registry.import_dir(make_model_dir(tmp_path / "src", "faster-whisper"), name="m")
    assert model.path is not None
    model.path.rename(registry.root / "other")
    with pytest.raises(ModelLoadError, match="names 'm', not 'other'"):
        registry.get("other")


def test_list_includes_builtin_and_hides_staging(registry: Registry, tmp_path: Path) -> None:
    registry.import_dir(make_model_dir(tmp_path / "src", "wenet-ctc"), name="w")
    (registry.root / ".staging-x-123").mkdir()
    names = [m.name for m in registry.installed()]
    assert names == ["espeak-ng", "w"]
    espeak = registry.get("espeak-ng")
    assert espeak.path is None
    assert espeak.manifest.source.kind == "builtin"
    assert espeak.model_info().engine == "espeak-ng"


def test_remove(registry: Registry, tmp_path: Path) -> None:
    registry.import_dir(make_model_dir(tmp_path / "src", "faster-whisper"), name="m")
    removed = registry.remove("m")
    assert removed.name == "m"
    assert visible(registry.root) == []
    with pytest.raises(ModelNotFoundError):
        registry.remove("m")
    with pytest.raises(ValueError, match="builtin"):
        registry.remove("espeak-ng")


def test_list_on_missing_root_is_just_builtins(registry: Registry) -> None:
    assert [m.name for m in registry.installed()] == ["espeak-ng"]
    assert not registry.root.exists()


def test_the_servers_cache_directory_is_not_a_broken_model(tmp_path: Path) -> None:
    # The server compiles ITN grammars into <models>/cache/itn; `list` must not warn about it.
    (tmp_path / "cache" / "itn").mkdir(parents=True)
    registry = Registry(tmp_path)
    models, problems = registry.scan()
    assert problems == []
    assert "cache" not in [m.name for m in models]
    with pytest.raises(ValueError, match="reserved"):
        registry.path_of("cache")
