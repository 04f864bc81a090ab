"""The Silero VAD network, run with onnxruntime on many streams at once.

The ONNX file shipped in the `silero-vad` wheel is used directly: the package itself is never
imported (its `__init__` imports torch). The graph takes `input[B, 64 + 512]` (64 samples of the
previous chunk as context, then the new 32 ms chunk, float32 in [-1, 1]), `state[2, B, 128]` (the
recurrent state) and `sr` (int64 scalar), and returns `output[B, 1]` (speech probability) and
`stateN[2, B, 128]`. Rows are independent, so one call serves B streams.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from mediaserver.audio.events import PIPELINE_RATE

SILERO_CONTEXT = 64
SILERO_CHUNK = 512
SILERO_WINDOW = SILERO_CONTEXT + SILERO_CHUNK
SILERO_STATE = 128
_MODEL_FILE = ("data", "silero_vad.onnx")

Floats = npt.NDArray[np.float32]


class VadModelNotFoundError(RuntimeError):
    """The Silero VAD model file could not be found; the message says how to install it."""


def find_silero_model() -> Path:
    """Locate `silero_vad/data/silero_vad.onnx` in the installed `silero-vad` package."""
    spec = importlib.util.find_spec("silero_vad")
    hint = "install it with `pip install --no-deps silero-vad` (only its ONNX file is used)"
    if spec is None or not spec.submodule_search_locations:
        raise VadModelNotFoundError(f"Silero VAD needs the silero-vad package; {hint}")
    for folder in spec.submodule_search_locations:
        path = Path(folder).joinpath(*_MODEL_FILE)
        if path.is_file():
            return path
    raise VadModelNotFoundError(f"the silero-vad package has no {'/'.join(_MODEL_FILE)}; {hint}")


class SileroModel:
    """One onnxruntime session of Silero VAD at 16 kHz, shared by every stream of a process.

    Single-threaded by default: the server runs many of these calls and scales by batching
    streams, not by spreading one small inference over cores.
    """

    def __init__(self, path: Path | None = None, *, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.path = find_silero_model() if path is None else path
        if not self.path.is_file():
            raise VadModelNotFoundError(f"no Silero VAD model at {self.path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in self._session.get_inputs()]
        if names != ["input", "state", "sr"]:
            raise VadModelNotFoundError(f"{self.path} is not a Silero VAD v5 model: {names}")
        self._outputs = [o.name for o in self._session.get_outputs()]
        self._sr = np.array(PIPELINE_RATE, dtype=np.int64)

    def infer(self, chunks: Floats, states: Floats) -> tuple[Floats, Floats]:
        """Run B windows at once: `chunks[B, 576]`, `states[2, B, 128]` -> `(probs[B], states)`.

        Both arrays must be C-contiguous float32 (anything else would be copied by onnxruntime).
        """
        if chunks.ndim != 2 or chunks.shape[1] != SILERO_WINDOW or chunks.dtype != np.float32:
            raise ValueError(f"chunks must be float32 [B, {SILERO_WINDOW}], got {chunks.shape}")
        if states.shape != (2, chunks.shape[0], SILERO_STATE) or states.dtype != np.float32:
            raise ValueError(
                f"states must be float32 [2, {chunks.shape[0]}, {SILERO_STATE}], got {states.shape}"
            )
        probs, new_states = self._session.run(
            self._outputs, {"input": chunks, "state": states, "sr": self._sr}
        )
        return probs[:, 0], new_states
