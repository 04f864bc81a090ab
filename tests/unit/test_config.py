from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mediaserver.config import ConfigError, Settings, load_settings, settings_as_dict

ROOT = Path(__file__).resolve().parents[2]


def test_conf_file_mirrors_every_default() -> None:
    with (ROOT / "conf" / "mediaserver.toml").open("rb") as f:
        conf = tomllib.load(f)
    defaults = settings_as_dict(Settings())
    as_lists = {
        section: {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        for section, values in defaults.items()
    }
    assert conf == as_lists


def test_defaults_and_models_dir_under_cache(tmp_path: Path) -> None:
    s = load_settings(environ={"XDG_CACHE_HOME": str(tmp_path)})
    assert s.server.port == 8000
    assert s.vad.sensitivity == "normal"
    assert s.models.path == tmp_path / "mediaserver" / "models"


def test_env_overrides_file_which_overrides_defaults(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[server]\nport = 9001\nhost = "0.0.0.0"\n[vad]\nsensitivity = "low"\n')
    s = load_settings(
        conf,
        environ={
            "MEDIASERVER_SERVER__PORT": "9002",
            "MEDIASERVER_MODELS_DIR": "/m",
            "MEDIASERVER_API_KEYS": "a, b,,",
            "MEDIASERVER_AUDIO__DENOISE": "yes",
            "MEDIASERVER_POSTPROCESS__HOT_WORDS": "PIX,Itaú",
        },
    )
    assert s.server.port == 9002
    assert s.server.host == "0.0.0.0"
    assert s.vad.sensitivity == "low"
    assert s.models.dir == "/m"
    assert s.server.api_keys == ("a", "b")
    assert s.audio.denoise is True
    assert s.postprocess.hot_words == ("PIX", "Itaú")


def test_config_file_from_environment(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text("[rtp]\nport_min = 50000\nport_max = 50010\n")
    s = load_settings(environ={"MEDIASERVER_CONFIG": str(conf)})
    assert (s.rtp.port_min, s.rtp.port_max) == (50000, 50010)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MEDIASERVER_SERVER__PORT": "eighty"}, "MEDIASERVER_SERVER__PORT"),
        ({"MEDIASERVER_VAD__SENSITIVITY": "max"}, "expected one of high, normal, low"),
        ({"MEDIASERVER_AUDIO__DENOISE": "maybe"}, "expected true or false"),
        ({"MEDIASERVER_SERVER__COLOUR": "red"}, "unknown setting server.colour"),
        ({"MEDIASERVER_NOPE__X": "1"}, "unknown setting nope"),
        (
            {"MEDIASERVER_RTP__PORT_MIN": "50000", "MEDIASERVER_RTP__PORT_MAX": "40000"},
            "rtp.port_min",
        ),
        ({"MEDIASERVER_MODELS__AUTO_UNLOAD_S": "-1"}, "auto_unload_s"),
    ],
)
def test_bad_values_are_clear_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})
    wrong_type = tmp_path / "wrong.toml"
    wrong_type.write_text('[server]\ninsecure = "yes"\n')
    with pytest.raises(ConfigError, match=r"server\.insecure"):
        load_settings(wrong_type, environ={})


def test_auto_unload_short_env() -> None:
    assert load_settings(environ={"MEDIASERVER_AUTO_UNLOAD": "0"}).models.auto_unload_s == 0.0


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('api_keys = [""]', "server.api_keys"),
        ('api_keys = [" padded "]', "server.api_keys"),
        ("drain_timeout_s = -1", "server.drain_timeout_s"),
        ("drain_grace_s = -0.5", "server.drain_grace_s"),
    ],
)
def test_bad_server_security_settings(tmp_path: Path, toml: str, message: str) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(f"[server]\n{toml}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(conf, environ={})


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("jitter_delay_ms = 0", "rtp.jitter_delay_ms"),
        ("jitter_capacity_ms = 150", "rtp.jitter_capacity_ms"),
        ("jitter_delay_ms = 500\njitter_capacity_ms = 400", "rtp.jitter_capacity_ms"),
        ("jitter_capacity_ms = 20000", "rtp.jitter_capacity_ms"),
    ],
)
def test_bad_jitter_settings(tmp_path: Path, toml: str, message: str) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(f"[rtp]\n{toml}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(conf, environ={})


def test_jitter_capacity_from_env() -> None:
    environ = {"MEDIASERVER_RTP__JITTER_CAPACITY_MS": "2000"}
    assert load_settings(environ=environ).rtp.jitter_capacity_ms == 2000
