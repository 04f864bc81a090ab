"""RNNoise noise suppression through ctypes on the library bundled in the `pyrnnoise` wheel.

Only `librnnoise.so` is used: the package's own Python module is never imported (its
`__init__` pulls in plotting and audio-file libraries). RNNoise works on 10 ms frames of 480
float samples in int16 scale at 48 kHz and delays its output by two frames (measured).
`Denoiser` resamples to 48 kHz and back, buffers partial frames, and removes that delay so its
output stays aligned with its input.

RNNoise is the most expensive stage of the pipeline (~250-550 µs per 10 ms frame on these
machines), so it is off by default.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import sys
import weakref
from pathlib import Path

import numpy as np

from mediaserver.audio.pcm import Pcm16, Samples, check_pcm16, check_rate, check_samples, to_pcm16
from mediaserver.audio.resample import REALTIME_QUALITY, Quality, Resampler

RNNOISE_RATE = 48_000
RNNOISE_FRAME = 480
RNNOISE_DELAY = 2 * RNNOISE_FRAME  # samples at 48 kHz; measured by cross-correlation
_INSTALL_HINT = "install it with `pip install --no-deps pyrnnoise`"
_LIBRARY_NAME = {"darwin": "librnnoise.dylib", "win32": "rnnoise.dll"}.get(
    sys.platform, "librnnoise.so"
)


class DenoiseUnavailableError(RuntimeError):
    """The RNNoise library could not be found or loaded; the message says how to install it."""


def find_rnnoise_library() -> Path:
    """Locate the RNNoise shared library inside the installed `pyrnnoise` package."""
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise DenoiseUnavailableError(f"RNNoise needs the pyrnnoise package; {_INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _LIBRARY_NAME
        if path.is_file():
            return path
    raise DenoiseUnavailableError(
        f"the pyrnnoise package has no {_LIBRARY_NAME}; reinstall it: {_INSTALL_HINT}"
    )


@functools.cache
def load_rnnoise(path: Path | None = None) -> ctypes.CDLL:
    """Load the library (once per path) and declare the three functions used."""
    path = find_rnnoise_library() if path is None else path
    try:
        lib = ctypes.CDLL(str(path))
        create, process, destroy = (
            lib.rnnoise_create,
            lib.rnnoise_process_frame,
            lib.rnnoise_destroy,
        )
    except (OSError, AttributeError) as exc:
        msg = f"cannot load RNNoise from {path} ({exc}); {_INSTALL_HINT}"
        raise DenoiseUnavailableError(msg) from exc
    create.argtypes = [ctypes.c_void_p]
    create.restype = ctypes.c_void_p
    # Buffers are passed as raw addresses: cheaper per frame than building ctypes pointers.
    process.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    process.restype = ctypes.c_float
    destroy.argtypes = [ctypes.c_void_p]
    destroy.restype = None
    return lib


class Denoiser:
    """Denoises one stream at `rate`, returning audio at `out_rate` (default: `rate`).

    Resampling happens only where needed: a 48 kHz stream (WebRTC) goes straight in, and a
    pipeline that wants 16 kHz out of 8 kHz telephone audio asks for `out_rate=16000` instead of
    resampling 8k -> 16k -> 48k -> 16k. Call `close()` (or use `with`) to free the native state;
    it is also freed when the object is collected.
    """

    def __init__(
        self,
        rate: int,
        out_rate: int | None = None,
        *,
        quality: Quality = REALTIME_QUALITY,
        library: Path | None = None,
    ) -> None:
        self.rate = check_rate(rate)
        self.out_rate = self.rate if out_rate is None else check_rate(out_rate, "out_rate")
        lib = load_rnnoise(library)
        self._process_frame = lib.rnnoise_process_frame
        self._up = Resampler(self.rate, RNNOISE_RATE, quality=quality, dtype=np.float32)
        self._down = Resampler(RNNOISE_RATE, self.out_rate, quality=quality, dtype=np.float32)
        self._tail = np.zeros(0, np.float32)  # < one frame of 48 kHz audio awaiting a frame
        self._skip = RNNOISE_DELAY  # dropped from the start of the output
        self._fed = 0  # 48 kHz samples given to RNNoise that carry real audio
        self._emitted = 0  # 48 kHz samples returned after the delay was dropped
        state = lib.rnnoise_create(None)
        if not state:
            raise MemoryError("rnnoise_create returned NULL")
        self._state: int = state
        self._free = weakref.finalize(self, lib.rnnoise_destroy, state)

    @property
    def closed(self) -> bool:
        return not self._free.alive

    def process(self, pcm: Pcm16) -> Pcm16:
        x = check_pcm16(pcm).astype(np.float32)
        return to_pcm16(self.process_float(x))

    def process_float(self, x: Samples) -> Samples:
        """Denoise float32 samples in int16 scale; returns what is ready at `out_rate`."""
        check_samples(x)
        self._check_open()
        audio = self._up.process(x)
        self._fed += len(audio)
        return self._down.process(self._run(audio))

    def flush(self) -> Pcm16:
        """End of stream: denoise and return the audio still buffered (int16 at `out_rate`)."""
        return to_pcm16(self.flush_float())

    def flush_float(self) -> Samples:
        self._check_open()
        audio = self._up.flush()
        self._fed += len(audio)
        # Zeros complete the last frame and push RNNoise's delayed frames out.
        missing = -(len(self._tail) + len(audio)) % RNNOISE_FRAME + RNNOISE_DELAY
        out = self._run(np.concatenate([audio, np.zeros(missing, np.float32)]))
        out = out[: max(0, self._fed - (self._emitted - len(out)))]
        self._emitted = self._fed
        return np.concatenate([self._down.process(out), self._down.flush()])

    def close(self) -> None:
        self._free()

    def __enter__(self) -> Denoiser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, audio: Samples) -> Samples:
        """Denoise whole frames in place; keep the remainder for the next call."""
        buf = np.concatenate([self._tail, audio]) if len(self._tail) else audio.copy()
        whole = len(buf) - len(buf) % RNNOISE_FRAME
        self._tail = buf[whole:].copy()
        base = buf.ctypes.data
        step = RNNOISE_FRAME * buf.itemsize
        for offset in range(0, whole * buf.itemsize, step):
            self._process_frame(self._state, base + offset, base + offset)
        out = buf[:whole]
        if self._skip:
            dropped = min(self._skip, len(out))
            self._skip -= dropped
            out = out[dropped:]
        self._emitted += len(out)
        return out

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("the denoiser is closed")
