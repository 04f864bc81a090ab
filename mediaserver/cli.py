"""The `mediaserver` command: one parser, one module per verb under `mediaserver.commands`."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from collections.abc import Sequence

from mediaserver import __version__
from mediaserver.config import ConfigError, LoggingSettings, load_settings
from mediaserver.observability import configure_logging

# Each module defines `register(subparsers)`, which adds its verbs and sets `func(args, settings)`.
COMMAND_MODULES = (
    "mediaserver.commands.serve",
    "mediaserver.commands.models",
    "mediaserver.commands.postprocess",
    "mediaserver.commands.transcribe",
    "mediaserver.commands.speak",
    "mediaserver.commands.events",
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
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for sub in subparsers.choices.values():
        _add_verbose(sub)
    return parser


VERBOSE_HELP = "show log lines on stderr (instead of the progress bar)"


def _add_verbose(sub: argparse.ArgumentParser) -> None:
    """`--verbose` after the verb too, and `-v` where the verb has no `-v` of its own (speak's
    `-v` is the voice). SUPPRESS keeps the value given before the verb."""
    options = {"action": "store_true", "default": argparse.SUPPRESS, "help": VERBOSE_HELP}
    try:
        sub.add_argument("-v", "--verbose", **options)  # type: ignore[arg-type]
    except argparse.ArgumentError:  # the verb's own -v
        sub.add_argument("--verbose", **options)  # type: ignore[arg-type]


def cli_logging(
    configured: LoggingSettings, *, verb: str, verbose: bool, terminal: bool
) -> LoggingSettings:
    """What a verb logs. A server's log is its output, so `serve` logs as configured. Any other
    verb prints its result (and a progress bar) and logs only when asked to (`-v`), or when
    stderr is not a terminal (a pipeline or a service manager collects it, as JSON lines).
    The level chosen here reaches the engine workers too (they log like their parent)."""
    if verb == "serve" or verbose or not terminal:
        return configured
    return dataclasses.replace(configured, level="critical")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.config)
        logging = cli_logging(
            settings.logging,
            verb=args.command,
            verbose=args.verbose,
            terminal=sys.stderr.isatty(),
        )
        settings = dataclasses.replace(settings, logging=logging)
        configure_logging(settings.logging)
    except (ConfigError, ValueError) as exc:
        print(f"mediaserver: configuration error: {exc}", file=sys.stderr)
        return 2
    result: int = args.func(args, settings)
    return result
