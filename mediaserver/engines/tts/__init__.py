"""Text-to-speech engines (run inside worker processes).

`create_tts_engine` imports an engine's module only when asked for it, so an espeak-ng worker
never imports torch and a Kokoro worker loads its stack only once it is chosen.
"""

from __future__ import annotations

from mediaserver.engines.factory import instantiate
from mediaserver.engines.tts.base import TtsEngine

# engine name (as in a model manifest) -> (module, class)
ENGINES: dict[str, tuple[str, str]] = {
    "kokoro": ("mediaserver.engines.tts.kokoro", "KokoroEngine"),
    "espeak-ng": ("mediaserver.engines.tts.espeak", "EspeakEngine"),
}


def create_tts_engine(engine_name: str) -> TtsEngine:
    """A new, unloaded engine for `engine_name`; ValueError naming the known engines otherwise."""
    engine: TtsEngine = instantiate(ENGINES, "TTS", engine_name)
    return engine


# The name the worker looks up in each engine package (`mediaserver.engines.<kind>`).
create_engine = create_tts_engine
