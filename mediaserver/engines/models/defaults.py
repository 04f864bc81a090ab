"""Which models are installed and which configured default is missing.

What `/ready` (to a client with a key) and the server's start-up log say, so that a server
that cannot transcribe says so before a call silently gets no transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mediaserver.config import ModelsSettings
from mediaserver.engines.models.registry import Registry


@dataclass(frozen=True, slots=True)
class ModelsReport:
    stt: tuple[str, ...]  # installed speech-to-text models
    tts: tuple[str, ...]  # installed text-to-speech models (espeak-ng is builtin)
    default_stt: str
    default_tts: str
    missing: tuple[str, ...]  # defaults that are not installed

    def fixes(self) -> dict[str, str]:
        """The command that installs each missing default."""
        return {name: f"mediaserver pull {name}" for name in self.missing}

    def to_dict(self) -> dict[str, Any]:
        return {
            "stt": list(self.stt),
            "tts": list(self.tts),
            "default_stt": self.default_stt,
            "default_tts": self.default_tts,
            "missing": list(self.missing),
            "fix": self.fixes(),
        }


def models_report(registry: Registry, models: ModelsSettings) -> ModelsReport:
    """Reads the models directory (blocking: run it in a thread from async code)."""
    installed = registry.installed()
    names = {m.name for m in installed}
    defaults = (models.default_stt, models.default_tts)
    return ModelsReport(
        stt=tuple(m.name for m in installed if m.manifest.type == "stt"),
        tts=tuple(m.name for m in installed if m.manifest.type == "tts"),
        default_stt=models.default_stt,
        default_tts=models.default_tts,
        missing=tuple(dict.fromkeys(n for n in defaults if n not in names)),
    )
