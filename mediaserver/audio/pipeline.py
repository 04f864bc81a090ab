"""The per-call audio front end: any source rate in, normalized 16 kHz int16 out.

    without denoise:  resample (source -> 16 kHz) -> DC removal -> gain
    with denoise:     RNNoise (source -> 48 kHz -> denoise -> 16 kHz) -> DC removal -> gain

Denoise sits where it is cheapest and correct: RNNoise only works at 48 kHz, so it takes the
source audio and produces 16 kHz itself (8 kHz telephone audio is resampled twice, not three
times; 48 kHz WebRTC audio goes in as it is). It runs before the level stages because RNNoise
high-passes its own input, and because the gain must follow the cleaned speech: normalizing
before denoising would lift the noise the gain stage is meant to ignore.

Resampling for live audio is low-delay: a polyphase FIR (`audio.fir`, 5.4 ms held back at 8 kHz)
when the source rate is a whole multiple or divisor of 16 kHz (8 kHz telephony, 48 kHz WebRTC),
soxr at `quality` otherwise; soxr's LQ would hold back 32 ms on average for 8 kHz, and that
delay is added to every VAD decision. Passing `quality` explicitly always uses soxr.

Between stages the audio is float32 in int16 scale, converted once on the way in and once out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mediaserver.audio.denoise import Denoiser
from mediaserver.audio.events import PIPELINE_RATE
from mediaserver.audio.fir import FirResampler, integer_ratio
from mediaserver.audio.levels import DcBlocker, GainNormalizer
from mediaserver.audio.pcm import Pcm16, Samples, check_pcm16, check_rate, to_pcm16
from mediaserver.audio.resample import REALTIME_QUALITY, Quality, Resampler
from mediaserver.config import AudioSettings


class Preprocessor:
    """Audio front end of one call; holds that call's filter, gain and resampler state."""

    def __init__(
        self,
        input_rate: int,
        settings: AudioSettings | None = None,
        *,
        quality: Quality | None = None,
        block: int = 1,
    ) -> None:
        settings = AudioSettings() if settings is None else settings
        if block < 1:
            raise ValueError(f"block must be >= 1 sample, got {block}")
        # Output is released each time it crosses a multiple of `block` samples (see _gather).
        self._block = block
        self._held: list[Samples] = []
        self._produced = 0  # 16 kHz samples out of the front stage
        self._released = 0
        self.input_rate = check_rate(input_rate, "input_rate")
        self.settings = settings
        self._denoiser: Denoiser | None = None
        self._front: Callable[[Samples], Samples]
        self._front_flush: Callable[[], Samples]
        if settings.denoise:
            self._denoiser = Denoiser(
                self.input_rate, PIPELINE_RATE, quality=quality or REALTIME_QUALITY
            )
            self._front, self._front_flush = (
                self._denoiser.process_float,
                self._denoiser.flush_float,
            )
        elif quality is None and integer_ratio(self.input_rate, PIPELINE_RATE):
            fir = FirResampler(self.input_rate, PIPELINE_RATE, dtype=np.float32)
            self._front, self._front_flush = fir.process, fir.flush
        else:
            quality = quality or REALTIME_QUALITY
            resampler = Resampler(self.input_rate, PIPELINE_RATE, quality=quality, dtype=np.float32)
            self._front, self._front_flush = resampler.process, resampler.flush
        self._dc = DcBlocker(PIPELINE_RATE) if settings.dc_remove else None
        self._gain = (
            GainNormalizer(
                PIPELINE_RATE,
                target_dbfs=settings.target_peak_dbfs,
                max_gain_db=settings.max_gain_db,
            )
            if settings.gain_normalize
            else None
        )

    def process(self, pcm: Pcm16) -> Pcm16:
        """Process the next frame; returns the 16 kHz audio ready so far (maybe none yet)."""
        return self._levels(self._gather(self._front(check_pcm16(pcm).astype(np.float32))))

    def flush(self) -> Pcm16:
        """End of stream: the audio still held back by the resampler or the denoiser."""
        held, self._held = self._held, []
        self._released = self._produced
        return self._levels(np.concatenate([*held, self._front_flush()]))

    def _gather(self, x: Samples) -> Samples:
        """Hold output until it crosses a multiple of `block`. With the VAD's chunk as the
        block, every stage after this one (levels, ring buffer, VAD) runs once per chunk
        instead of once per packet, and the VAD still sees each chunk complete in the very
        frame that completes it: no decision waits longer."""
        if self._block == 1:
            return x
        self._produced += len(x)
        if self._produced // self._block == self._released // self._block:
            if len(x):
                self._held.append(x.copy())
            return x[:0]
        held, self._held = self._held, []
        self._released = self._produced
        return np.concatenate([*held, x]) if held else x

    def close(self) -> None:
        """Free the denoiser's native state (a no-op without denoise)."""
        if self._denoiser is not None:
            self._denoiser.close()

    def _levels(self, x: Samples) -> Pcm16:
        if len(x) == 0:
            return np.zeros(0, np.int16)
        if self._dc is not None:
            self._dc.apply(x)
        if self._gain is not None:
            self._gain.apply(x)
        return to_pcm16(x)
