"""An STT engine run in this process behind the `FileTranscriber` protocol of the batch path
(the server uses the worker supervisor): the same batch code, without worker start-up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from mediaserver.engines.base import ModelInfo, ProgressCallback, TranscribeOptions, Transcript
from mediaserver.engines.stt.faster_whisper import FasterWhisperEngine


class InProcess:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def transcribe_file(
        self, model: str, audio: Any, options: TranscribeOptions, *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:  # fmt: skip
        floats = audio.astype(np.float32) / 32768.0 if audio.dtype == np.int16 else audio
        return await asyncio.to_thread(self.engine.transcribe_file, floats, options, progress)


def whisper(path: Path, threads: int = 2, **config: Any) -> InProcess:
    engine = FasterWhisperEngine()
    engine.load(ModelInfo("faster-whisper-base", path, "faster-whisper", config, threads))
    return InProcess(engine)
