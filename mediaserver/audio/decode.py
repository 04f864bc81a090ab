"""Decode an uploaded or local audio file to PCM at the pipeline rate, with PyAV (FFmpeg).

Only file contents are decoded: the input is opened as a Python file object, FFmpeg may use only
the demuxers of common audio files (`format_whitelist`), and any attempt by a demuxer to open a
further resource (playlists, concat lists, HLS/DASH manifests) is refused. A file that cannot be
decoded, holds no audio, or runs past the limits raises `AudioDecodeError` with the reason.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

import av
import av.error
import numpy as np
import numpy.typing as npt

from mediaserver.audio.events import PIPELINE_RATE

# Demuxers of the formats callers upload: WAV (PCM, G.711 µ-law/A-law, ...), MP3, OGG
# (Opus/Vorbis/FLAC), FLAC, MP4/M4A (AAC), raw ADTS AAC, Matroska/WebM, AIFF, CAF, W64.
ALLOWED_FORMATS: Final = (
    "wav",
    "w64",
    "mp3",
    "ogg",
    "flac",
    "mov",
    "aac",
    "matroska",
    "aiff",
    "caf",
)
_URL_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_TEXT_BYTES: Final = frozenset(b"\t\n\r") | frozenset(range(0x20, 0x7F))

Source = bytes | bytearray | memoryview | IO[bytes] | str | os.PathLike[str]
ChannelSelect = Literal["mix", "all"] | int
SampleType = Literal["float32", "int16"]


class AudioDecodeError(ValueError):
    """The input is not decodable audio, holds none, or exceeds a limit; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot decode audio: {reason}")
        self.reason = reason


class AudioLimitError(AudioDecodeError):
    """The audio is readable but larger than allowed (duration, channels): 413, not 400."""


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_duration_s: float = 2 * 3600.0  # decoded audio, summed over the channels decoded
    max_decode_s: float = 600.0  # wall-clock budget for the whole decode
    max_channels: int = 8
    max_corrupt_packets: int = 50  # damaged packets skipped before the file is refused


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    # Shape (channels, frames): one row for "mix" or a selected channel, all rows for "all".
    samples: npt.NDArray[np.float32] | npt.NDArray[np.int16]
    sample_rate: int
    source_rate: int
    source_channels: int
    codec: str  # e.g. "pcm_mulaw", "opus", "aac"
    container: str  # e.g. "wav", "ogg", "mov,mp4,m4a,3gp,3g2,mj2"
    corrupt_packets: int = 0  # damaged packets skipped (their audio is missing)

    @property
    def duration_s(self) -> float:
        return int(self.samples.shape[1]) / self.sample_rate

    @property
    def mono(self) -> npt.NDArray[Any]:
        """The single channel as a 1-D array (decode with channels="mix" or an index)."""
        if self.samples.shape[0] != 1:
            raise ValueError(f"audio has {self.samples.shape[0]} channels; select one to get mono")
        row: npt.NDArray[Any] = self.samples[0]
        return row


def decode_audio(
    source: Source,
    *,
    sample_rate: int = PIPELINE_RATE,
    channels: ChannelSelect = "mix",
    dtype: SampleType = "float32",
    limits: DecodeLimits = DecodeLimits(),  # frozen, so sharing the default is safe
    clock: Callable[[], float] = time.monotonic,
) -> DecodedAudio:
    """Decode a whole file (bytes, a binary file object or a local path) to PCM.

    `channels`: "mix" averages all channels into one, "all" keeps each (stereo call recordings
    often carry one party per channel), an int keeps that channel only.

    This runs the codec in the calling process: for bytes from a client, use the process
    boundary in `mediaserver.decoding` instead, which runs this same code under OS limits.
    """
    with open_decode(
        source, sample_rate=sample_rate, channels=channels, limits=limits, clock=clock
    ) as run:
        chunks = [to_dtype(chunk, dtype) for chunk in run.chunks()]
        samples: Any = np.concatenate(chunks, axis=1)  # float32 or int16, as `dtype` asked
        return DecodedAudio(
            samples=samples,
            sample_rate=sample_rate,
            source_rate=run.info.source_rate,
            source_channels=run.info.source_channels,
            codec=run.info.codec,
            container=run.info.container,
            corrupt_packets=run.corrupt_packets,
        )


@contextlib.contextmanager
def open_decode(
    source: Source,
    *,
    sample_rate: int = PIPELINE_RATE,
    channels: ChannelSelect = "mix",
    limits: DecodeLimits = DecodeLimits(),
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[DecodeRun]:
    """Open `source` and check its header; the run's `chunks()` then decodes it piece by piece
    (float32, shape (rows, frames)), so a caller can stream the audio on without holding it."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    with contextlib.ExitStack() as stack:
        file = _as_file(source, stack)
        started = clock()
        try:
            container = stack.enter_context(_open(file))
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(_open_failure(file, exc)) from None
        yield DecodeRun(container, sample_rate, channels, limits, clock, started)


def _as_file(source: Source, stack: contextlib.ExitStack) -> IO[bytes]:
    """A seekable binary file for `source`; a path is opened (and closed by `stack`)."""
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise AudioDecodeError("empty input")
        return io.BytesIO(source)
    if isinstance(source, str | os.PathLike):
        text = os.fspath(source)
        if _URL_RE.match(text):
            raise AudioDecodeError(f"only local files can be decoded, not URLs ({text[:40]!r})")
        try:
            # Python opens the file, so FFmpeg never resolves a name or a protocol itself.
            file = stack.enter_context(Path(text).open("rb"))  # noqa: SIM115 - the stack closes it
        except OSError as exc:
            raise AudioDecodeError(f"cannot read {text}: {exc.strerror or exc}") from None
        if os.fstat(file.fileno()).st_size == 0:
            raise AudioDecodeError("empty input")
        return file
    return source


def _refuse_nested_open(url: str, flags: int, options: object) -> object:
    """A demuxer asked to open another resource (a playlist entry): never allowed."""
    raise PermissionError("decoding never opens further resources")


def _open(file: IO[bytes]) -> av.container.InputContainer:
    return av.open(
        file,
        mode="r",
        container_options={
            "format_whitelist": ",".join(ALLOWED_FORMATS),
            "protocol_whitelist": "none",
        },
        io_open=_refuse_nested_open,
    )


def _open_failure(file: IO[bytes], exc: av.error.FFmpegError) -> str:
    try:
        file.seek(0)
        head = file.read(512)
    except (OSError, ValueError):
        head = b""
    if not head:
        return "empty input"
    if all(byte in _TEXT_BYTES for byte in head):
        return "the input is text (a playlist or list of files?), not an audio file"
    if isinstance(exc, av.error.ArgumentError | av.error.PermissionError):
        return "unsupported container format (use WAV, MP3, OGG/Opus, FLAC, M4A/AAC or WebM)"
    return f"not a readable audio file ({_why(exc)})"


@dataclass(frozen=True, slots=True)
class StreamInfo:
    source_rate: int
    source_channels: int
    rows: int  # channels decoded: 1 for "mix" or an index, all of them for "all"
    codec: str
    container: str


class DecodeRun:
    """One file being decoded: `info` from its header, then `chunks()` once."""

    def __init__(
        self,
        container: av.container.InputContainer,
        sample_rate: int,
        channels: ChannelSelect,
        limits: DecodeLimits,
        clock: Callable[[], float],
        started: float,
    ) -> None:
        if not container.streams.audio:
            raise AudioDecodeError("the file has no audio stream")
        self._stream = stream = container.streams.audio[0]
        context = stream.codec_context
        if context is None:  # FFmpeg knows the container but has no decoder for the codec
            raise AudioDecodeError(
                "unsupported or invalid audio codec in the header; "
                "use PCM, G.711, MP3, Opus, Vorbis, FLAC or AAC"
            )
        source_rate = int(context.sample_rate or 0)
        source_channels = int(context.channels or 0)
        _check_header(container, source_rate, source_channels, channels, limits)
        context.thread_count = 1  # one file, one thread: the memory limit is per process
        self.info = StreamInfo(
            source_rate=source_rate,
            source_channels=source_channels,
            rows=source_channels if channels == "all" else 1,
            codec=context.name,
            container=container.format.name,
        )
        self._container = container
        self._sink = _Sink(sample_rate, channels, self.info, limits)
        self._limits = limits
        self._clock = clock
        self._started = started
        self.corrupt_packets = 0

    def chunks(self) -> Iterator[npt.NDArray[np.float32]]:
        """Decoded, resampled audio, (rows, frames) float32 per piece; limits hold throughout."""
        limits = self._limits
        packets = iter(self._container.demux(self._stream))
        while True:
            if self._clock() - self._started > limits.max_decode_s:
                raise AudioDecodeError(f"decoding took longer than {limits.max_decode_s:g} s")
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                if self._sink.produced == 0:
                    raise AudioDecodeError(f"corrupt audio data ({_why(exc)})") from None
                break  # a truncated file ends where its data does: keep what came before
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                # One damaged packet costs its 20-60 ms of audio, not the whole file.
                self.corrupt_packets += 1
                if self.corrupt_packets > limits.max_corrupt_packets:
                    raise AudioDecodeError(f"too many corrupt packets ({_why(exc)})") from None
                continue
            for frame in frames:
                yield from self._sink.push(frame)
        yield from self._sink.push(None)
        if self._sink.produced == 0:
            raise AudioDecodeError("the file holds no audio samples")


class _Sink:
    """Resamples decoded frames, picks or mixes channels, and enforces the duration limit."""

    def __init__(
        self, sample_rate: int, select: ChannelSelect, info: StreamInfo, limits: DecodeLimits
    ) -> None:
        # Packed (interleaved) output: PyAV 18 crashes (SIGSEGV) reading planar frames of 8
        # channels, so channels are split here with numpy instead.
        self.resampler = av.AudioResampler(format="flt", rate=sample_rate)
        self.select = select
        self.channels = info.source_channels
        # The limit covers every channel decoded: "all" on a stereo file costs twice the time.
        self.max_samples = limits.max_duration_s * sample_rate
        self.rows = info.rows
        self.limits = limits
        self.produced = 0  # frames (samples per channel)

    def push(self, frame: av.AudioFrame | None) -> Iterator[npt.NDArray[np.float32]]:
        """Take one decoded frame (None flushes the resampler); yields what it produced."""
        for out in self.resampler.resample(frame):
            packed = out.to_ndarray().reshape(-1, self.channels)  # (samples, channels)
            if self.select == "mix":
                planes = packed.mean(axis=1, dtype=np.float32).reshape(1, -1)
            elif isinstance(self.select, int):
                planes = packed[:, self.select].reshape(1, -1)
            else:
                planes = packed.T
            self.produced += int(planes.shape[1])
            if self.produced * self.rows > self.max_samples:
                raise AudioLimitError(_too_long(self.limits))
            yield np.ascontiguousarray(planes, dtype=np.float32)


def _why(exc: av.error.FFmpegError) -> str:
    return str(exc.strerror or type(exc).__name__)


def _check_header(
    container: av.container.InputContainer,
    source_rate: int,
    source_channels: int,
    channels: ChannelSelect,
    limits: DecodeLimits,
) -> None:
    """Refuse what the header already shows to be out of bounds, before decoding anything."""
    if source_rate <= 0 or source_channels <= 0:
        raise AudioDecodeError("the audio stream has no sample rate or channel count")
    if source_channels > limits.max_channels:
        raise AudioLimitError(f"{source_channels} channels (at most {limits.max_channels})")
    if isinstance(channels, int) and not 0 <= channels < source_channels:
        raise AudioDecodeError(f"channel {channels} requested; the file has {source_channels}")
    # The container's duration is an estimate for some formats: it only rejects early, the
    # decoded sample count is what the limit is finally enforced on.
    rows = source_channels if channels == "all" else 1
    declared = container.duration
    if declared is not None and rows * declared / 1e6 > limits.max_duration_s * 1.1:
        raise AudioLimitError(_too_long(limits))


def to_dtype(
    samples: npt.NDArray[np.float32], dtype: SampleType
) -> npt.NDArray[np.float32] | npt.NDArray[np.int16]:
    if dtype == "float32":
        return samples
    scaled = np.clip(samples, -1.0, 1.0) * 32767.0
    ints: npt.NDArray[np.int16] = np.rint(scaled).astype(np.int16)
    return ints


def _too_long(limits: DecodeLimits) -> str:
    # Summed over the channels decoded: channel=all on stereo counts both.
    return f"audio longer than the limit of {limits.max_duration_s:g} s"
