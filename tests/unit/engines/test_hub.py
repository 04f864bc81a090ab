from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from mediaserver.engines.models import hub
from mediaserver.engines.models.layout import ModelLayoutError
from mediaserver.engines.models.registry import ModelExistsError, Registry
from tests.unit.engines.model_dirs import make_model_dir


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "models")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # .invalid never resolves (RFC 2606): the real probe fails the way it does on this machine.
    monkeypatch.setattr(hub, "hub_endpoint", lambda: "https://hub.invalid")


def no_probe() -> None:
    pass


def test_pull_downloads_into_place(registry: Registry) -> None:
    calls: list[tuple[str, list[str], str | None]] = []

    def fake_download(repo: str, patterns: list[str], revision: str | None, dest: Path) -> None:
        calls.append((repo, patterns, revision))
        make_model_dir(dest, "faster-whisper")
        (dest / ".cache").mkdir()  # huggingface_hub bookkeeping; not part of the model

    model = hub.pull(registry, "faster-whisper-tiny", downloader=fake_download, probe=no_probe)
    assert calls == [
        (
            "Systran/faster-whisper-tiny",
            [
                "config.json",
                "preprocessor_config.json",
                "model.bin",
                "tokenizer.json",
                "vocabulary.*",
            ],
            None,
        )
    ]
    assert model.manifest.source.kind == "hub"
    assert model.manifest.source.repo == "Systran/faster-whisper-tiny"
    assert model.manifest.config == {"compute_type": "int8"}
    assert registry.get("faster-whisper-tiny") == model


def test_pull_under_alias(registry: Registry) -> None:
    def fake_download(repo: str, patterns: list[str], revision: str | None, dest: Path) -> None:
        make_model_dir(dest, "kokoro")

    model = hub.pull(registry, "kokoro", alias="voz", downloader=fake_download, probe=no_probe)
    assert model.name == "voz"
    assert model.manifest.voices == ("pf_dora", "pm_alex", "pm_santa")


def test_incomplete_download_leaves_nothing(registry: Registry) -> None:
    def partial(repo: str, patterns: list[str], revision: str | None, dest: Path) -> None:
        make_model_dir(dest, "faster-whisper", skip=("model.bin",))

    with pytest.raises(ModelLayoutError, match=r"missing model\.bin") as exc:
        hub.pull(registry, "faster-whisper-base", downloader=partial, probe=no_probe)
    # Named by where the files came from, not by our staging folder.
    assert str(exc.value).startswith("the download of Systran/faster-whisper-base is not")
    assert [p.name for p in registry.root.iterdir()] == []


def test_failed_download_leaves_nothing(registry: Registry) -> None:
    def broken(repo: str, patterns: list[str], revision: str | None, dest: Path) -> None:
        (dest / "model.bin").write_bytes(b"half")
        raise hub.DownloadError("connection reset")

    with pytest.raises(hub.DownloadError):
        hub.pull(registry, "faster-whisper-base", downloader=broken, probe=no_probe)
    assert [p.name for p in registry.root.iterdir()] == []


@pytest.mark.usefixtures("offline")
def test_offline_pull_fails_fast_with_the_import_command(registry: Registry) -> None:
    def must_not_run(repo: str, patterns: list[str], revision: str | None, dest: Path) -> None:
        raise AssertionError("downloader called while offline")

    start = time.monotonic()
    with pytest.raises(hub.HubUnreachableError) as err:
        hub.pull(registry, "faster-whisper-small", downloader=must_not_run)
    assert time.monotonic() - start < hub.PROBE_TIMEOUT_S + 1
    assert "mediaserver pull faster-whisper-small --from DIR" in str(err.value)
    assert not registry.root.exists()


def test_probe_reports_refused_connection() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reason = hub.probe_endpoint(f"http://127.0.0.1:{port}", timeout_s=1)
    assert reason is not None
    assert "refused" in reason.lower()


def test_probe_succeeds_against_a_listener() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert hub.probe_endpoint(f"http://127.0.0.1:{s.getsockname()[1]}", timeout_s=1) is None


def test_probe_gives_up_on_a_hanging_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    def hang(*args: object, **kwargs: object) -> socket.socket:
        time.sleep(2)
        raise OSError("late")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.monotonic()
    assert hub.probe_endpoint("https://example.test", timeout_s=0.2) == "no answer within 0.2 s"
    assert time.monotonic() - start < 1


def test_unknown_and_builtin_names(registry: Registry) -> None:
    with pytest.raises(hub.UnknownModelError, match="pull whisper-xxl --from DIR"):
        hub.pull(registry, "whisper-xxl", probe=no_probe)
    with pytest.raises(ValueError, match="builtin"):
        hub.pull(registry, "espeak-ng", probe=no_probe)


def test_already_installed_is_refused_before_the_network(
    registry: Registry, tmp_path: Path
) -> None:
    registry.import_dir(make_model_dir(tmp_path / "src", "kokoro"), name="kokoro")

    def probe() -> None:
        raise AssertionError("probed the network for an installed model")

    with pytest.raises(ModelExistsError):
        hub.pull(registry, "kokoro", probe=probe)
