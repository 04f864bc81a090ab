"""The `mediaserver` command: one parser, one module per verb under `mediaserver.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mediaserver import __version__
from mediaserver.config import ConfigError, load_settings
from mediaserver.observability import configure_logging

# Each module defines `register(subparsers)`, which adds its verbs and sets `func(args, settings)`.
COMMAND_MODULES = (
    "mediaserver.commands.serve",
    "mediaserver.commands.models",
    "mediaserver.commands.postprocess",
    "mediaserver.commands.transcribe",
    "mediaserver.commands.speak",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mediaserver",
        description="Realtime voice media server for telephony (RTP, AudioSocket, WebRTC, WS).",
    )
    parser.add_argument("--version", action="version", version=f"mediaserver {__version__}")
    parser.add_argument(
        "--config", metavar="FILE", help="TOML settings file (overrides conf defaults)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.config)
        configure_logging(settings.logging)
    except (ConfigError, ValueError) as exc:
        print(f"mediaserver: configuration error: {exc}", file=sys.stderr)
        return 2
    result: int = args.func(args, settings)
    return result
