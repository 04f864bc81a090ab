from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from mediaserver.cli import main
from mediaserver.engines.models import hub
from tests.unit.engines.model_dirs import make_model_dir


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("MEDIASERVER_MODELS_DIR", str(root))
    monkeypatch.delenv("MEDIASERVER_API_KEYS", raising=False)
    monkeypatch.delenv("MEDIASERVER_CONFIG", raising=False)
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("mediaserver: ")
    return lines[0]


def test_pull_from_dir_then_list_inspect_rm(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_model_dir(tmp_path / "src", "faster-whisper")
    code, out, _ = run(capsys, "pull", "faster-whisper-small", "--from", str(source))
    assert code == 0
    assert out.startswith("installed faster-whisper-small (faster-whisper,")

    code, out, _ = run(capsys, "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "ENGINE", "TYPE", "VOICES", "SIZE", "SOURCE"]
    row = next(r for r in rows if r.startswith("faster-whisper-small"))
    assert row.split()[1:3] == ["faster-whisper", "stt"]
    assert str(source.resolve()) in row

    code, out, _ = run(capsys, "list", "--json")
    listed = {m["name"]: m for m in json.loads(out)}
    assert listed["faster-whisper-small"]["path"] == str(models_dir / "faster-whisper-small")
    assert listed["espeak-ng"]["source"]["kind"] == "builtin"

    code, out, _ = run(capsys, "inspect", "faster-whisper-small")
    assert code == 0
    data = json.loads(out)
    assert data["architecture"] == "encoder-decoder"
    assert data["config"] == {"compute_type": "int8"}

    code, out, _ = run(capsys, "rm", "faster-whisper-small", "-y")
    assert (code, out.strip()) == (0, "removed faster-whisper-small")
    assert not (models_dir / "faster-whisper-small").exists()


def test_pull_alias_with_engine(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_model_dir(tmp_path / "src", "wenet-ctc")
    code, _, err = run(capsys, "pull", "mine", "--from", str(source), "--engine", "wenet-ctc")
    assert code == 0, err
    code, _, err = run(
        capsys, "pull", "faster-whisper-tiny", "--from", str(source), "--name", "alias"
    )
    assert code == 1
    assert "missing model.bin" in one_line_error(err)
    assert sorted(p.name for p in models_dir.iterdir()) == ["mine"]


def test_incomplete_import_is_one_line(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_model_dir(tmp_path / "src", "kokoro", skip=("config.json",))
    code, _, err = run(capsys, "pull", "kokoro", "--from", str(source))
    assert code == 1
    assert "missing config.json" in one_line_error(err)


def test_usage_errors_exit_2(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "pull", "../x", "--from", str(tmp_path))
    assert code == 2
    assert "invalid model name" in one_line_error(err)
    code, _, err = run(capsys, "pull", "kokoro", "--engine", "kokoro")
    assert code == 2
    assert "--engine applies only to --from" in one_line_error(err)
    with pytest.raises(SystemExit) as exc:
        main(["rm"])
    assert exc.value.code == 2


def test_offline_pull_is_fast_and_says_how_to_import(
    models_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub, "hub_endpoint", lambda: "https://hub.invalid")
    code, _, err = run(capsys, "pull", "faster-whisper-small")
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith("pulling faster-whisper-small from Systran/faster-whisper-small")
    assert "`mediaserver pull faster-whisper-small --from DIR`" in one_line_error(lines[-1])


def test_unknown_model(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "pull", "whisper-xxl")
    assert code == 1
    assert "not in the model catalog" in one_line_error(err)


def test_missing_model_errors(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for verb in (("inspect", "kokoro"), ("rm", "kokoro", "-y")):
        code, _, err = run(capsys, *verb)
        assert code == 1
        assert "run `mediaserver pull kokoro`" in one_line_error(err)


def test_rm_needs_confirmation_without_a_terminal(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "pull", "m", "--from", str(make_model_dir(tmp_path / "src", "kokoro")))
    code, _, err = run(capsys, "rm", "m")
    assert code == 2
    assert "pass -y" in one_line_error(err)
    assert (models_dir / "m").is_dir()


def test_list_available_shows_the_catalog(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "list", "--available", "--json")
    assert code == 0
    entries = {e["name"]: e for e in json.loads(out)}
    assert entries["kokoro"]["repo"] == "hexgrad/Kokoro-82M"
    assert entries["kokoro"]["installed"] is False
    assert entries["espeak-ng"]["installed"] is True


def test_list_warns_about_broken_models(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (models_dir / "junk").mkdir(parents=True)
    code, out, err = run(capsys, "list")
    assert code == 0
    assert "skipping" in err
    assert "junk" not in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_ps_without_server(
    models_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIASERVER_SERVER__PORT", str(free_port()))
    code, _, err = run(capsys, "ps")
    assert code == 1
    assert "server is not running" in one_line_error(err)


@pytest.fixture
def fake_server() -> Iterator[tuple[int, list[dict[str, str]]]]:
    requests: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
            body = json.dumps(
                {
                    "object": "list",
                    "data": [
                        {"id": "faster-whisper-small", "engine": "faster-whisper", "type": "stt"},
                        {"id": "kokoro", "engine": "kokoro", "type": "tts", "status": "ready"},
                        {
                            "id": "faster-whisper-small",
                            "engine": "faster-whisper",
                            "type": "stt",
                            "role": "batch",
                            "status": "starting",
                        },
                    ],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_ps_lists_loaded_models(
    models_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_server: tuple[int, list[dict[str, str]]],
) -> None:
    port, requests = fake_server
    monkeypatch.setenv("MEDIASERVER_SERVER__PORT", str(port))
    monkeypatch.setenv("MEDIASERVER_API_KEYS", "k1,k2")
    code, out, _ = run(capsys, "ps")
    assert code == 0
    assert requests == [{"path": "/v1/models?loaded=true", "auth": "Bearer k1"}]
    rows = [line.split() for line in out.splitlines()]
    assert rows == [
        ["NAME", "ENGINE", "TYPE", "ROLE", "STATUS"],
        ["faster-whisper-small", "faster-whisper", "stt", "-", "-"],
        ["kokoro", "kokoro", "tts", "-", "ready"],
        ["faster-whisper-small", "faster-whisper", "stt", "batch", "starting"],
    ]
    code, out, _ = run(capsys, "ps", "--json")
    ids = [m["id"] for m in json.loads(out)]
    assert ids == ["faster-whisper-small", "kokoro", "faster-whisper-small"]
