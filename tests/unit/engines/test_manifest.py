from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaserver.engines.base import Architecture, Capabilities
from mediaserver.engines.models.catalog import Catalog
from mediaserver.engines.models.manifest import (
    MANIFEST_FILE,
    Manifest,
    ManifestError,
    Resources,
    Source,
    dump_toml,
    validate_name,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def whisper_manifest(**changes: object) -> Manifest:
    fields: dict[str, object] = {
        "name": "faster-whisper-small",
        "engine": "faster-whisper",
        "type": "stt",
        "architecture": Architecture.ENCODER_DECODER,
        "capabilities": Capabilities(hot_words=True, word_timestamps=True),
        "source": Source("hub", repo="Systran/faster-whisper-small"),
        "languages": ("auto",),
        "resources": Resources(memory_mb=1000, threads=4),
        "config": {"compute_type": "int8", "beams": [1, 5], "temperature": 0.5},
        "size_bytes": 483_546_902,
        "installed_at": datetime(2026, 11, 20, 21, 0, 5, tzinfo=UTC),
    }
    fields.update(changes)
    return Manifest(**fields)  # type: ignore[arg-type]


def test_round_trip_through_toml() -> None:
    manifest = whisper_manifest()
    assert Manifest.from_toml(manifest.to_toml()) == manifest


def test_round_trip_tts_without_architecture() -> None:
    manifest = Manifest(
        name="kokoro",
        engine="kokoro",
        type="tts",
        architecture=None,
        capabilities=Capabilities(),
        source=Source("local", path='/srv/models/Kokoro 82M "copy"'),
        voices=("pf_dora", "pm_alex"),
    )
    text = manifest.to_toml()
    assert "architecture" not in text
    assert Manifest.from_toml(text) == manifest


def test_written_file_is_plain_toml(tmp_path: Path) -> None:
    manifest = whisper_manifest()
    path = manifest.write(tmp_path)
    assert path.name == MANIFEST_FILE
    data = tomllib.loads(path.read_text())
    assert data["engine"] == "faster-whisper"
    assert data["installed_at"] == datetime(2026, 11, 20, 21, 0, 5, tzinfo=UTC)
    assert data["config"]["compute_type"] == "int8"
    assert Manifest.load(tmp_path) == manifest


def test_capabilities_default_to_the_engine() -> None:
    text = 'name = "w"\nengine = "wenet-ctc"\ntype = "stt"\narchitecture = "ctc"\n'
    text += '[source]\nkind = "local"\n'
    manifest = Manifest.from_toml(text)
    assert manifest.capabilities.native_partials is True
    assert manifest.capabilities.hot_words is False


def test_to_dict_is_json_friendly() -> None:
    data = whisper_manifest().to_dict()
    assert data["architecture"] == "encoder-decoder"
    assert data["installed_at"] == "2026-11-20T21:00:05Z"
    assert data["capabilities"]["hot_words"] is True


def test_installed_at_other_offsets_normalised_to_utc() -> None:
    moment = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-3)))
    manifest = whisper_manifest(installed_at=moment)
    assert manifest.to_dict()["installed_at"] == "2026-01-01T15:00:00Z"
    assert Manifest.from_toml(manifest.to_toml()).installed_at == moment


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('engine = "faster-whisper"', 'engine = "vosk"'),
            "engine: expected one",
        ),
        (lambda t: t.replace('type = "stt"', 'type = "tts"'), "is stt, not tts"),
        (lambda t: t.replace('"encoder-decoder"', '"ctc"'), "architecture: must be encoder-dec"),
        (lambda t: t.replace('architecture = "encoder-decoder"\n', ""), "architecture: must be"),
        (lambda t: t.replace("size_bytes = 483546902", "size_bytes = -1"), "size_bytes"),
        (lambda t: t.replace("size_bytes = 483546902", 'size_bytes = "1"'), "size_bytes: expected"),
        (lambda t: t.replace("hot_words = true", "hot_words = 1"), "capabilities.hot_words"),
        (lambda t: t.replace("hot_words = true", "hot_words = true\nstreams = true"), "streams"),
        (lambda t: t + "extra = 1\n", "extra: unknown key"),
        (lambda t: t.replace("memory_mb = 1000", "memory_mb = true"), "resources.memory_mb"),
        (lambda t: t.replace('kind = "hub"', 'kind = "ftp"'), "source.kind"),
        (lambda t: t.replace('repo = "Systran/faster-whisper-small"', ""), "source.repo"),
        (lambda t: t.replace('name = "faster-whisper-small"', 'name = "../x"'), "name: invalid"),
        (lambda t: t.replace('languages = ["auto"]', "languages = [1]"), "languages"),
        (lambda t: t.replace("2026-11-20T21:00:05Z", "2026-11-20T21:00:05"), "time zone"),
        (lambda t: t.replace('compute_type = "int8"', "compute_type = {a = 1}"), "config.compute"),
        (lambda t: t.replace("[config]", "[config\n"), "not valid TOML"),
    ],
)
def test_strict_validation_names_the_key(edit: object, message: str) -> None:
    text = edit(whisper_manifest().to_toml())  # type: ignore[operator]
    with pytest.raises(ManifestError, match=message.replace("[", r"\[").replace(".", r"\.")):
        Manifest.from_toml(text, "m.toml")


def test_missing_required_key() -> None:
    text = whisper_manifest().to_toml().replace('engine = "faster-whisper"\n', "")
    with pytest.raises(ManifestError, match=r"m\.toml: engine: required"):
        Manifest.from_toml(text, "m.toml")


def test_load_from_directory_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="missing"):
        Manifest.load(tmp_path)


@pytest.mark.parametrize("name", ["../x", "..", ".hidden", "a/b", "", "x" * 65, "a b", "é"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid model name"):
        validate_name(name)


@pytest.mark.parametrize("name", ["kokoro", "faster-whisper-large-v3", "m.v2_int8", "X"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.one_of(
            st.text(max_size=20),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.floats(allow_nan=False, allow_infinity=False),
            st.booleans(),
            st.lists(st.text(max_size=5), max_size=3),
        ),
        max_size=5,
    )
)
def test_dump_toml_round_trips_any_config(config: dict[str, object]) -> None:
    assert tomllib.loads(dump_toml({"config": config})) == {"config": config}


def test_packaged_catalog_is_the_conf_file() -> None:
    conf = REPO_ROOT / "conf" / "models.toml"
    packaged = REPO_ROOT / "mediaserver" / "conf" / "models.toml"
    assert conf.resolve() == packaged.resolve()
    assert Catalog.load() == Catalog.load(conf)


def test_catalog_entries_build_valid_manifests() -> None:
    catalog = Catalog.load()
    for name in ("faster-whisper-tiny", "faster-whisper-large-v3-turbo", "kokoro"):
        assert name in catalog
    turbo = catalog["faster-whisper-large-v3-turbo"]
    assert turbo.capabilities.translation is False
    assert turbo.capabilities.word_timestamps is True
    kokoro = catalog["kokoro"]
    assert set(kokoro.voices) == {"pf_dora", "pm_alex", "pm_santa"}
    assert {f"voices/{v}.pt" for v in kokoro.voices} <= set(kokoro.files)
    for entry in catalog.values():
        manifest = entry.manifest(source=Source("local"))
        assert Manifest.from_toml(manifest.to_toml()) == manifest
        assert entry.builtin == (entry.engine == "espeak-ng")
    wenet = [e for e in catalog.values() if e.engine == "wenet-ctc"]
    assert wenet
    assert all(e.manifest().architecture is Architecture.CTC for e in wenet)


def test_catalog_rejects_bad_entries() -> None:
    with pytest.raises(ManifestError, match="files: required"):
        Catalog.parse('[models.x]\nengine = "kokoro"\nrepo = "a/b"\n')
    with pytest.raises(ManifestError, match="invalid model name"):
        Catalog.parse('[models."../x"]\nengine = "kokoro"\n')
    with pytest.raises(ManifestError, match=r"models\.x\.colour: unknown key"):
        Catalog.parse('[models.x]\nengine = "kokoro"\ncolour = "red"\n')
