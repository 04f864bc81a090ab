"""The `mediaserver` command: one parser, one module per verb under `mediaserver.commands`."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
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
    try:
        result: int = args.func(args, settings)
    except BrokenPipeError:
        # The reader went away (`mediaserver postprocess | head`): stop quietly, as a C tool
        # killed by SIGPIPE would, and keep the interpreter's last flush from raising again.
        _discard_stdout()
        return EXIT_SIGPIPE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_SIGINT
    return result


EXIT_SIGPIPE = 128 + 13
EXIT_SIGINT = 128 + 2


def _discard_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with contextlib.suppress(OSError, ValueError):  # stdout replaced by a non-file
            os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
