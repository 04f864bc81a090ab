from __future__ import annotations

from mediaserver.cli import build_parser


def test_config_is_accepted_after_the_verb_too() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "--config", "a.toml"]).config == "a.toml"
    assert parser.parse_args(["--config", "b.toml", "serve", "--port", "9"]).config == "b.toml"
    assert parser.parse_args(["serve"]).config is None
