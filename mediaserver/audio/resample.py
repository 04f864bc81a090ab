"""Streaming sample-rate conversion (soxr) for the pipeline's way in and the TTS way out.

soxr works in blocks, so a stream holds some audio back until enough has arrived; how much depends
on the quality. Measured holdback for 20 ms chunks (mean / worst case):

    quality   8k->16k        48k->16k       image rejection 8k->16k
    QQ        0.2 / 0.2 ms   0 / 0 ms       ~10 dB (cubic: audible images, avoid)
    LQ        32 / 61 ms     11 / 20 ms     >100 dB
    MQ, HQ    64 / 117 ms    21 / 37 ms     >120 dB
    VHQ       (more)

Speech needs nothing above LQ, so `REALTIME_QUALITY` is LQ; offline paths may ask for HQ. Live
calls at 8 or 48 kHz do not come here at all: `fir.FirResampler` holds back 5.4 ms. Output
is time-aligned with the input (soxr compensates its filter delay): output sample n is input time
n / out_rate, so positions counted at the output rate are positions in the stream.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import soxr

from mediaserver.audio.pcm import check_mono, check_rate

Quality = Literal["QQ", "LQ", "MQ", "HQ", "VHQ"]
QUALITIES: tuple[Quality, ...] = ("QQ", "LQ", "MQ", "HQ", "VHQ")
REALTIME_QUALITY: Quality = "LQ"
OFFLINE_QUALITY: Quality = "HQ"

_DTYPES = (np.int16, np.float32)
ScalarT = TypeVar("ScalarT", np.int16, np.float32)


class Resampler(Generic[ScalarT]):
    """Converts one mono stream from `in_rate` to `out_rate`, chunk by chunk.

    `dtype` is the sample type in and out: int16 PCM, or float32 (the pipeline keeps float32 in
    int16 scale between stages). Equal rates make `process` return its argument untouched.
    """

    def __init__(
        self,
        in_rate: int,
        out_rate: int,
        *,
        quality: Quality = REALTIME_QUALITY,
        dtype: type[ScalarT] = np.int16,  # type: ignore[assignment]  # mypy cannot bind a TypeVar default
    ) -> None:
        self.in_rate = check_rate(in_rate, "in_rate")
        self.out_rate = check_rate(out_rate, "out_rate")
        if quality not in QUALITIES:
            raise ValueError(f"quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be numpy.int16 or numpy.float32, got {dtype!r}")
        self.quality: Quality = quality
        self.dtype: np.dtype[ScalarT] = np.dtype(dtype)
        self._stream: soxr.ResampleStream | None = None
        if self.in_rate != self.out_rate:
            self._stream = soxr.ResampleStream(
                self.in_rate, self.out_rate, 1, dtype=self.dtype.name, quality=quality
            )
        self.samples_in = 0
        self.samples_out = 0

    @property
    def passthrough(self) -> bool:
        return self._stream is None

    def process(self, pcm: npt.NDArray[ScalarT]) -> npt.NDArray[ScalarT]:
        """Resample the next chunk; returns what soxr has ready (possibly nothing yet)."""
        self._check(pcm)
        self.samples_in += len(pcm)
        if self._stream is None:
            self.samples_out += len(pcm)
            return pcm
        out: npt.NDArray[ScalarT] = self._stream.resample_chunk(pcm)
        self.samples_out += len(out)
        return out

    def flush(self) -> npt.NDArray[ScalarT]:
        """End of stream: return the audio still held back. The resampler can then start over."""
        if self._stream is None:
            return np.zeros(0, self.dtype)
        out: npt.NDArray[ScalarT] = self._stream.resample_chunk(np.zeros(0, self.dtype), last=True)
        self.samples_out += len(out)
        self._stream.clear()
        return out

    def _check(self, pcm: object) -> None:
        check_mono(pcm, self.dtype, "pcm")
