"""`mediaserver pull NAME`: download a catalog entry's files from the Hugging Face hub.

Before anything else the hub's host is probed with a short timeout, so that an offline machine
gets an answer in seconds (with the command that imports a local copy) instead of waiting on
huggingface_hub's retries. The download itself goes through `Registry.install`, so it is atomic.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from mediaserver.engines.models.catalog import CatalogEntry
from mediaserver.engines.models.registry import InstalledModel, ModelExistsError, Registry
from mediaserver.engines.models.suggestions import closest

# (repo id, allow_patterns, revision or None, destination directory)
Downloader = Callable[[str, list[str], str | None, Path], None]
Probe = Callable[[], None]

PROBE_TIMEOUT_S: Final = 3.0


class HubUnreachableError(ConnectionError):
    """The hub cannot be reached; the message says how to import a local copy instead."""

    def __init__(self, name: str, endpoint: str, reason: str) -> None:
        super().__init__(
            f"cannot reach the Hugging Face hub at {endpoint} ({reason}); copy the model's "
            f"files onto this machine and run `mediaserver pull {name} --from DIR`"
        )
        self.name = name


class DownloadError(RuntimeError):
    """The hub answered but the download failed (missing repository, network cut, disk full)."""


class UnknownModelError(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        match = closest(name, known)
        if match is not None:
            message = f"{name!r} is not in the model catalog; did you mean {match!r}?"
        else:
            message = (
                f"{name!r} is not in the model catalog (known: {', '.join(known)}); "
                f"to install your own model use `mediaserver pull {name} --from DIR`"
            )
        super().__init__(message)
        self.name = name
        self.suggestion = match


def hub_endpoint() -> str:
    # huggingface_hub resolves HF_ENDPOINT itself; read its answer instead of the environment.
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def probe_endpoint(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to the endpoint opens within `timeout_s`, else why not.

    Name resolution has no timeout of its own, so it runs in a daemon thread we stop waiting on.
    """
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                outcome.append(None)
        except OSError as exc:
            outcome.append(exc.strerror or type(exc).__name__)

    worker = threading.Thread(target=attempt, name="hub-probe", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        return f"no answer within {timeout_s:g} s"
    return outcome[0]


def hf_download(repo: str, patterns: list[str], revision: str | None, dest: Path) -> None:
    """The real downloader: huggingface_hub with its tqdm progress bars on stderr."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(
            repo_id=repo,
            revision=revision,
            allow_patterns=patterns,
            local_dir=dest,
            etag_timeout=PROBE_TIMEOUT_S,
        )
    except Exception as exc:  # huggingface_hub raises many unrelated types; the caller needs one
        raise DownloadError(f"downloading {repo} failed: {exc}") from exc
    # snapshot_download keeps its bookkeeping in local_dir/.cache; it is not part of the model.
    shutil.rmtree(dest / ".cache", ignore_errors=True)


def pull(
    registry: Registry,
    name: str,
    *,
    alias: str | None = None,
    downloader: Downloader = hf_download,
    probe: Probe | None = None,
) -> InstalledModel:
    """Install catalog entry `name` (as `alias` if given) from the hub."""
    entry = catalog_entry(registry, name)
    template = entry.manifest(alias or name)
    if entry.builtin:
        raise ValueError(f"model {name!r} is builtin: nothing to download, it is always available")
    if registry.is_installed(template.name):
        # Checked here as well as in install() so that no time is spent probing the network.
        raise ModelExistsError(template.name)
    if probe is None:
        endpoint = hub_endpoint()
        reason = probe_endpoint(endpoint)
        if reason is not None:
            raise HubUnreachableError(name, endpoint, reason)
    else:
        probe()
    revision = entry.revision or None
    return registry.install(
        template,
        lambda staging: downloader(entry.repo, list(entry.files), revision, staging),
        origin=f"the download of {entry.repo}",
    )


def catalog_entry(registry: Registry, name: str) -> CatalogEntry:
    entry = registry.catalog.get(name)
    if entry is None:
        raise UnknownModelError(name, list(registry.catalog))
    return entry
