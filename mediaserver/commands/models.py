"""Model verbs: `mediaserver pull | list | ps | rm | inspect`.

Exit codes: 0 done, 1 the operation failed (missing model, network, disk), 2 the command line was
wrong. Errors are one line on stderr; progress bars go to stderr too, so stdout stays parseable.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from mediaserver.commands.server_url import add_url_option, auth_headers, base_url
from mediaserver.config import Settings
from mediaserver.engines.base import ModelLoadError, ModelNotFoundError
from mediaserver.engines.models import hub
from mediaserver.engines.models.layout import ModelLayoutError
from mediaserver.engines.models.manifest import ENGINES, ManifestError
from mediaserver.engines.models.registry import (
    CopyProgress,
    InstalledModel,
    ModelExistsError,
    Registry,
)

OK: Final = 0
FAILED: Final = 1
USAGE: Final = 2

# Failures of the operation itself (exit 1) as opposed to a wrong command line (exit 2).
_RUNTIME_ERRORS = (
    ModelNotFoundError,
    ModelLoadError,
    ModelExistsError,
    ModelLayoutError,
    ManifestError,
    hub.HubUnreachableError,
    hub.DownloadError,
    hub.UnknownModelError,
    OSError,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("pull", help="download a model (or import a local copy)")
    p.add_argument("name", metavar="NAME", help="catalog name (see `list --available`)")
    p.add_argument("--from", dest="source", metavar="DIR", type=Path, help="import this directory")
    p.add_argument(
        "--engine",
        choices=[e for e in ENGINES if e != "espeak-ng"],
        help="with --from: the engine that runs the files (default: the directory's manifest, "
        "the catalog entry NAME, else detected from the files)",
    )
    p.add_argument("--name", dest="alias", metavar="ALIAS", help="install under this name")
    p.set_defaults(func=_guarded(pull))

    p = subparsers.add_parser("list", help="list installed models")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.add_argument("--available", action="store_true", help="list the pullable catalog instead")
    p.set_defaults(func=_guarded(list_models))

    p = subparsers.add_parser("ps", help="list the models the running server has loaded")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    add_url_option(p)
    p.set_defaults(func=_guarded(ps))

    p = subparsers.add_parser("rm", help="remove an installed model")
    p.add_argument("name", metavar="NAME", help="an installed model (see `mediaserver list`)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_guarded(rm))

    p = subparsers.add_parser("inspect", help="show an installed model's manifest as JSON")
    p.add_argument("name", metavar="NAME", help="an installed model (see `mediaserver list`)")
    p.set_defaults(func=_guarded(inspect))


Command = Callable[[argparse.Namespace, Settings], int]


def _guarded(command: Command) -> Command:
    """Turn the errors a user can cause into one line on stderr and an exit code."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return command(args, settings)
        except _RUNTIME_ERRORS as exc:
            return _fail(str(exc), FAILED)
        except ValueError as exc:
            return _fail(str(exc), USAGE)
        except KeyboardInterrupt:
            return _fail("interrupted; nothing was installed", FAILED)

    return run


def _fail(message: str, code: int) -> int:
    print(f"mediaserver: {message}", file=sys.stderr)
    return code


def pull(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry.from_settings(settings)
    name = args.alias or args.name
    if args.source is not None:
        with _ByteProgress(f"importing {name}") as progress:
            model = registry.import_dir(
                args.source,
                name=name,
                catalog_name=args.name,
                engine=args.engine,
                progress=progress,
            )
    else:
        if args.engine is not None:
            raise ValueError("--engine applies only to --from DIR imports")
        entry = hub.catalog_entry(registry, args.name)
        if not entry.builtin:
            print(
                f"pulling {args.name} from {entry.repo} (~{entry.download_mb} MB)", file=sys.stderr
            )
        model = hub.pull(registry, args.name, alias=args.alias)
    print(f"installed {model.name} ({model.manifest.engine}, {_size(model.manifest.size_bytes)})")
    return OK


def list_models(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry.from_settings(settings)
    if args.available:
        return _list_catalog(registry, as_json=args.json)
    models, problems = registry.scan()
    for path, reason in problems:
        print(f"mediaserver: warning: skipping {path}: {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps([_with_voices(m) for m in models], indent=2))
        return OK
    rows = [_installed_row(m) for m in models]
    _print_table(("NAME", "ENGINE", "TYPE", "VOICES", "SIZE", "SOURCE"), rows)
    return OK


def _installed_row(model: InstalledModel) -> tuple[str, ...]:
    m = model.manifest
    source = {"hub": m.source.repo, "local": m.source.path, "builtin": "builtin"}[m.source.kind]
    voices = _voices(model)
    count = "-" if voices is None else str(len(voices))
    return (m.name, m.engine, m.type, count, _size(m.size_bytes) if model.path else "-", source)


def _voices(model: InstalledModel) -> list[str] | None:
    """A TTS model's voices as GET /v1/voices lists them (same function); None for STT.
    espeak-ng's come from its library: the manifest names only its default voice."""
    if model.manifest.type != "tts":
        return None
    from mediaserver.engines.tts.service import list_voices

    try:
        return [v.id for v in list_voices(model)]
    except ModelLoadError:  # the engine is not usable here: no voices to offer
        return []


def _with_voices(model: InstalledModel) -> dict[str, object]:
    data = model.to_dict()
    voices = _voices(model)
    if voices is not None:
        data["voices"] = voices
    return data


def _list_catalog(registry: Registry, *, as_json: bool) -> int:
    entries = list(registry.catalog.values())
    if as_json:
        data = [
            {
                "name": e.name,
                "engine": e.engine,
                "repo": e.repo,
                "download_mb": e.download_mb,
                "description": e.description,
                "installed": registry.is_installed(e.name) or e.builtin,
            }
            for e in entries
        ]
        print(json.dumps(data, indent=2))
        return OK
    rows = [
        (
            e.name,
            e.engine,
            f"{e.download_mb} MB" if e.repo else "builtin",
            "yes" if e.builtin or registry.is_installed(e.name) else "no",
            e.description,
        )
        for e in entries
    ]
    _print_table(("NAME", "ENGINE", "DOWNLOAD", "INSTALLED", "DESCRIPTION"), rows)
    return OK


def ps(args: argparse.Namespace, settings: Settings) -> int:
    server = base_url(settings, args.url)
    url = f"{server}/v1/models?loaded=true"
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", **auth_headers(settings)}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        hint = "; set MEDIASERVER_API_KEYS to one of its keys" if exc.code == 401 else ""
        return _fail(f"the server at {server} answered HTTP {exc.code}{hint}", FAILED)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        return _fail(
            f"the server is not running at {server} ({reason}); start it with "
            "`mediaserver serve`, or name where it runs with --url",
            FAILED,
        )
    except json.JSONDecodeError:
        return _fail(f"the server at {url} did not answer JSON", FAILED)
    loaded = body.get("data", []) if isinstance(body, dict) else []
    if args.json:
        print(json.dumps(loaded, indent=2))
        return OK
    rows = [
        tuple(str(item.get(k, "-")) for k in ("id", "engine", "type", "role", "status"))
        for item in loaded
        if isinstance(item, dict)
    ]
    _print_table(("NAME", "ENGINE", "TYPE", "ROLE", "STATUS"), rows)
    return OK


def rm(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry.from_settings(settings)
    model = registry.get(args.name)  # fails clearly before asking anything
    if not args.yes:
        if not sys.stdin.isatty():
            return _fail(f"refusing to remove {args.name} without confirmation; pass -y", USAGE)
        try:
            answer = input(f"remove {args.name} ({_size(model.manifest.size_bytes)})? [y/N] ")
        except EOFError:  # Ctrl-D at the prompt: a "no", on a line of its own
            print(file=sys.stderr)
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed", file=sys.stderr)
            return FAILED
    registry.remove(args.name)
    print(f"removed {args.name}")
    return OK


def inspect(args: argparse.Namespace, settings: Settings) -> int:
    model = Registry.from_settings(settings).get(args.name)
    print(json.dumps(_with_voices(model), indent=2))
    return OK


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    size, unit = n / 1000, "KB"
    for bigger in ("MB", "GB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{size:.1f} {unit}"


class _ByteProgress:
    """A tqdm byte bar on stderr, created on the first report (when the total is known)."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._bar: Any = None

    def __enter__(self) -> CopyProgress:
        return self._report

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def _report(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=self.description,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                disable=None,
                leave=False,
            )
        self._bar.update(done - self._bar.n)
