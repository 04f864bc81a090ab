"""Speech-to-text engines (run inside worker processes).

`create_engine` imports an engine's module only when asked for it, so a worker loads the heavy
library of its own engine (CTranslate2 or sherpa-onnx) and nothing else.
"""

from __future__ import annotations

from mediaserver.engines.base import SttEngine
from mediaserver.engines.factory import instantiate

# engine name (as in a model manifest) -> (module, class)
ENGINES: dict[str, tuple[str, str]] = {
    "faster-whisper": ("mediaserver.engines.stt.faster_whisper", "FasterWhisperEngine"),
    "wenet-ctc": ("mediaserver.engines.stt.wenet_ctc", "WenetCtcEngine"),
}


def create_engine(engine_name: str) -> SttEngine:
    """A new, unloaded engine for `engine_name`; ValueError naming the known engines otherwise."""
    engine: SttEngine = instantiate(ENGINES, "STT", engine_name)
    return engine
