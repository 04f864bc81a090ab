"""A scripted STT engine for worker tests: it "says" words at given audio times.

The script is `fake.json` in the model directory (all keys optional):
  words:      [[t_s, "word"], ...]  a word is heard once t_s seconds of audio were fed
  load_s:     seconds `load` takes;  fail_load: error message `load` raises
  rtf:        processing seconds per audio second in `transcribe_file`
  step_s:     progress is reported (and cancellation noticed) every step_s of processing
  bursts:     [[pause_s, [done_s, ...]], ...] instead of rtf/step_s: after each pause, report
              those positions at once (as batched decoding yields a batch's segments)
  crash_at_s: `transcribe_file` kills the process once this much audio is processed
  accept_s:   seconds each stream `accept` takes
  freeze_after_s: the process stops itself (SIGSTOP) this long after loading: a hung worker
  events:     a file where the engine appends JSON lines (load, cancelled) with
              time.monotonic() stamps, comparable across processes on Linux
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mediaserver.audio.pcm import Pcm16
from mediaserver.engines.base import (
    Architecture,
    Audio,
    Capabilities,
    Hypothesis,
    ModelInfo,
    ModelLoadError,
    ProgressCallback,
    Segment,
    TranscribeOptions,
    Transcript,
    Word,
)
from mediaserver.engines.tts.base import Voice

RATE = 16000
DEFAULT_WORDS = [[0.5, "um"], [1.0, "dois"], [1.5, "três"], [2.0, "quatro"]]


def write_script(model_dir: Path, **script: Any) -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "fake.json").write_text(json.dumps(script))
    return model_dir


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


class FakeStream:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.samples = 0

    def accept(self, audio: Audio) -> Hypothesis:
        time.sleep(float(self.engine.script.get("accept_s", 0.0)))
        self.samples += len(audio)
        return self.engine.hypothesis(self.samples / RATE, is_final=False)

    def finish(self) -> Hypothesis:
        return self.engine.hypothesis(self.samples / RATE, is_final=True)


class FakeEngine:
    architecture = Architecture.ENCODER_DECODER
    capabilities = Capabilities(word_timestamps=True, initial_prompt=True)

    def __init__(self) -> None:
        self.script: dict[str, Any] = {}
        self.words: list[tuple[float, str]] = []

    def _event(self, name: str, **fields: Any) -> None:
        path = self.script.get("events")
        if path:
            record = {"event": name, "t": time.monotonic(), "pid": os.getpid(), **fields}
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def load(self, model: ModelInfo) -> None:
        script_file = model.path / "fake.json"
        self.script = json.loads(script_file.read_text()) if script_file.exists() else {}
        self.words = [(float(t), str(w)) for t, w in self.script.get("words", DEFAULT_WORDS)]
        time.sleep(float(self.script.get("load_s", 0.0)))
        if self.script.get("fail_load"):
            raise ModelLoadError(str(self.script["fail_load"]))
        self._event("load")
        freeze_after = self.script.get("freeze_after_s")
        if freeze_after is not None:
            pid = os.getpid()
            threading.Timer(float(freeze_after), os.kill, (pid, signal.SIGSTOP)).start()

    def hypothesis(self, seconds: float, *, is_final: bool) -> Hypothesis:
        heard = [(t, w) for t, w in self.words if t <= seconds + 1e-9]
        words = tuple(Word(start=t - 0.3, end=t, word=w, probability=0.9) for t, w in heard)
        return Hypothesis(text=" ".join(w for _, w in heard), words=words, is_final=is_final)

    def transcribe_file(
        self, audio: Audio, options: TranscribeOptions, progress: ProgressCallback | None = None
    ) -> Transcript:
        if audio.dtype != np.float32:
            raise ValueError("fake engine wants float32")
        total = len(audio) / RATE
        for pause, positions in self.script.get("bursts", []):
            time.sleep(pause)
            for done in positions:
                if progress is not None:
                    progress(done, total)
        work = total * float(self.script.get("rtf", 0.0))
        step = float(self.script.get("step_s", 0.005))
        steps = max(1, math.ceil(work / step)) if work > 0 else 1
        crash_at = self.script.get("crash_at_s")
        for i in range(steps):
            time.sleep(work / steps)
            done = total * (i + 1) / steps
            if crash_at is not None and done >= float(crash_at):
                os._exit(70)
            if progress is not None:
                try:
                    progress(done, total)
                except BaseException:
                    self._event("cancelled", done_s=done)
                    raise
        hyp = self.hypothesis(total, is_final=True)
        segment = Segment(id=0, start=0.0, end=total, text=hyp.text, words=hyp.words)
        return Transcript(
            text=hyp.text, language=options.language or "pt", duration=total, segments=(segment,)
        )

    def open_stream(self, options: TranscribeOptions) -> FakeStream:
        return FakeStream(self)

    def unload(self) -> None:
        self._event("unload")

    def health(self) -> Mapping[str, Any]:
        return {"fake": True}


class FakeTts:
    """A TTS engine for the worker plumbing: a 440 Hz tone, one 100 ms chunk per word."""

    name = "fake-tts"
    sample_rate = 24000
    default_voice = "tone"

    def load(self, model: ModelInfo) -> None:
        self.model = model

    def voices(self) -> list[Voice]:
        return [Voice(id="tone", language="und", gender="female", engine=self.name)]

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> Iterator[Pcm16]:
        n = int(self.sample_rate * 0.1 / speed)
        tone = (np.sin(2 * np.pi * 440 * np.arange(n) / self.sample_rate) * 8000).astype(np.int16)
        for _ in text.split():
            yield tone

    def unload(self) -> None:
        pass

    def health(self) -> Mapping[str, Any]:
        return {"voices": 1}
