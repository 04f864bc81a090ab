"""Synthesized PCM to the bytes of a response format, incrementally, for streaming responses.

An `AudioEncoder` takes mono int16 chunks as the engine produces them and returns whatever
bytes are ready to send; `finish` returns the rest. Formats:

- `pcm`: raw s16le at the engine's rate, passed through (`X-Sample-Rate` says which).
- `wav`: a RIFF header written before any audio. A stream does not know its length when the
  header leaves, so the RIFF and data sizes are 0xFFFFFFFF ("unknown", as ffmpeg writes to a
  pipe): decoders read to the end of the body. `wav_header(rate, n)` gives the exact header
  for callers that can seek back (`mediaserver speak -o file.wav`).
- `mp3` (LAME), `opus` (in Ogg), `flac`: PyAV encoders writing to an in-memory sink that is
  drained after every chunk. Opus only takes 8/12/16/24/48 kHz, so other rates are resampled
  (soxr) to the next supported rate; mp3 and flac keep the engine's rate.

The encoders are plain objects (no I/O, no clock); the caller moves the bytes.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from typing import Final, Literal, Protocol, get_args

import av
import numpy as np

from mediaserver.audio.pcm import Pcm16, check_pcm16
from mediaserver.audio.resample import OFFLINE_QUALITY, Resampler

AudioFormat = Literal["wav", "pcm", "mp3", "opus", "flac"]
AUDIO_FORMATS: Final[tuple[AudioFormat, ...]] = get_args(AudioFormat)
MEDIA_TYPES: Final[dict[AudioFormat, str]] = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",  # s16le mono; the API sends the rate in X-Sample-Rate
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
    "flac": "audio/flac",
}
UNKNOWN_SIZE: Final = 0xFFFFFFFF
WAV_HEADER_BYTES: Final = 44
OPUS_RATES: Final = (8000, 12_000, 16_000, 24_000, 48_000)
# (muxer, codec, muxer options) per compressed format. The Ogg muxer holds a page until it
# has 1 s of audio by default; 100 ms pages let the first clause leave at once.
_CONTAINERS: Final[dict[str, tuple[str, str, dict[str, str]]]] = {
    "mp3": ("mp3", "libmp3lame", {}),
    "opus": ("ogg", "libopus", {"page_duration": "100000"}),
    "flac": ("flac", "flac", {}),
}



class AudioEncoder(Protocol):
    format: AudioFormat
    sample_rate: int  # of the encoded audio

    def encode(self, pcm: Pcm16) -> bytes:
        """Encode the next chunk; returns the bytes ready now (possibly none)."""

    def finish(self) -> bytes:
        """End of the audio: the bytes still held back. The encoder cannot be used after."""


def parse_format(value: object) -> AudioFormat:
    """A response format name; ValueError listing the supported ones otherwise."""
    for fmt in AUDIO_FORMATS:
        if value == fmt:
            return fmt
    raise ValueError(f"response_format must be one of {', '.join(AUDIO_FORMATS)}, got {value!r}")


def create_encoder(fmt: AudioFormat, sample_rate: int) -> AudioEncoder:
    """An encoder for mono int16 PCM at `sample_rate` to `fmt`."""
    if not 8000 <= sample_rate <= 48_000:
        raise ValueError(f"sample_rate must be 8000..48000, got {sample_rate}")
    if fmt == "pcm":
        return PcmEncoder(sample_rate)
    if fmt == "wav":
        return WavEncoder(sample_rate)
    if fmt in _CONTAINERS:
        return AvEncoder(fmt, sample_rate)
    raise ValueError(f"unsupported response format {fmt!r}")




def wav_header(sample_rate: int, data_bytes: int | None = None) -> bytes:
    """A 44-byte PCM16 mono WAV header; `data_bytes` None writes the "unknown size" marker."""
    if data_bytes is None:
        riff_size = data_size = UNKNOWN_SIZE
    else:
        if data_bytes < 0 or data_bytes > UNKNOWN_SIZE - 36:
            raise ValueError(f"data_bytes must be 0..{UNKNOWN_SIZE - 36}, got {data_bytes}")
        riff_size, data_size = 36 + data_bytes, data_bytes
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", riff_size, b"WAVE",
        b"fmt ", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16,
        b"data", data_size,
    )  # fmt: skip


class PcmEncoder:
    format: AudioFormat = "pcm"

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate

    def encode(self, pcm: Pcm16) -> bytes:
        return check_pcm16(pcm).astype("<i2", copy=False).tobytes()

    def finish(self) -> bytes:
        return b""


class WavEncoder(PcmEncoder):
    format: AudioFormat = "wav"

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self._header_sent = False

    def encode(self, pcm: Pcm16) -> bytes:
        body = super().encode(pcm)
        if self._header_sent:
            return body
        self._header_sent = True
        return wav_header(self.sample_rate) + body

    def finish(self) -> bytes:
        # No audio at all still makes a valid (empty) file.
        return b"" if self._header_sent else wav_header(self.sample_rate, 0)


class _Sink:
    """A write-only file for PyAV: what the muxer writes waits here until drained.

    It has no `seek`, so muxers treat the output as a pipe and never go back to patch a
    header (the mp3 Xing frame and flac STREAMINFO totals stay "unknown").
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class AvEncoder:
    """mp3, opus (Ogg) or flac through PyAV; PyAV re-frames chunks to the codec's frame size."""

    def __init__(self, fmt: AudioFormat, sample_rate: int) -> None:
        muxer, codec, options = _CONTAINERS[fmt]
        self.format = fmt
        self.input_rate = sample_rate
        self.sample_rate = _opus_rate(sample_rate) if fmt == "opus" else sample_rate
        self._resampler: Resampler[np.int16] = Resampler(
            sample_rate, self.sample_rate, quality=OFFLINE_QUALITY
        )
        self._sink = _Sink()
        self._container = av.open(self._sink, mode="w", format=muxer, options=options)
        stream = self._container.add_stream(codec, rate=self.sample_rate, layout="mono")
        assert isinstance(stream, av.AudioStream)  # an audio codec makes an audio stream
        self._stream = stream
        self._pts = 0
        self._finished = False

    def encode(self, pcm: Pcm16) -> bytes:
        if self._finished:
            raise ValueError("the encoder is finished")
        self._mux(self._resampler.process(check_pcm16(pcm)))
        return self._sink.drain()

    def finish(self) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        self._mux(self._resampler.flush())
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.drain()

    def _mux(self, pcm: Pcm16) -> None:
        if not pcm.size:
            return
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        frame.time_base = Fraction(1, self.sample_rate)
        self._pts += pcm.size
        for packet in self._stream.encode(frame):
            self._container.mux(packet)


def _opus_rate(rate: int) -> int:
    """The lowest rate Opus takes that keeps all of `rate`'s bandwidth."""
    return next(r for r in OPUS_RATES if r >= rate)
