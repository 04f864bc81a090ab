"""`mediaserver serve --pull-missing`: install the default STT model before serving.

A fresh machine has no speech-to-text model, and a server without one answers every call with
no transcript. With this flag (`make serve` passes it) `serve` first pulls
`models.default_stt` when it is missing, with the download's progress bar. Where the hub cannot
be reached it says so once, with the `pull --from` way out, and serves anyway (speech, VAD,
DTMF and any other installed model work; `/ready` and the start-up log name what is missing).
"""

from __future__ import annotations

import sys
from typing import Final

from mediaserver.config import Settings
from mediaserver.engines.base import ModelLoadError
from mediaserver.engines.models import hub
from mediaserver.engines.models.layout import ModelLayoutError
from mediaserver.engines.models.registry import ModelExistsError, Registry

_FAILURES: Final = (
    hub.HubUnreachableError,
    hub.DownloadError,
    ModelLayoutError,
    ModelLoadError,
    ModelExistsError,  # a concurrent pull won the race: the model is there, fine
    OSError,
)


def pull_missing_default(
    settings: Settings,
    *,
    downloader: hub.Downloader = hub.hf_download,
    probe: hub.Probe | None = None,
) -> bool:
    """Make sure the default STT model is installed; True when it is (now or already)."""
    registry = Registry.from_settings(settings)
    name = settings.models.default_stt
    if registry.is_installed(name):
        return True
    entry = registry.catalog.get(name)
    if entry is None:
        _say(
            f"the default speech-to-text model {name!r} is not installed and not in the "
            f"catalog; install it with `mediaserver pull {name} --from DIR`. Serving without it."
        )
        return False
    _say(
        f"{name}, the default speech-to-text model, is not installed; pulling it from "
        f"{entry.repo} (~{entry.download_mb} MB)"
    )
    try:
        model = hub.pull(registry, name, downloader=downloader, probe=probe)
    except ModelExistsError:
        return True
    except _FAILURES as exc:
        _say(f"{exc}. Serving without it: transcription fails until it is installed.")
        return False
    print(f"installed {model.name}", file=sys.stderr)
    return True


def _say(message: str) -> None:
    print(f"mediaserver: {message}", file=sys.stderr)
