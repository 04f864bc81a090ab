"""Where to cut a long file for Whisper: chunks of at most 30 s, cut only in pauses.

Whisper sees 30 s at a time. Fixed 30 s windows cut through words (and the decoder drops the
sentence it cannot finish); here the server's own VAD (batched Silero, `audio/vad.py`) finds the
speech, and `pack` lays consecutive speech spans into windows of at most `MAX_CLIP_S`, each
window starting and ending in a pause. A span longer than that (a monologue without a
`min_silence_ms` pause) is cut at its quietest 100 ms near the end of the window.

Pure: PCM in, PCM and sample positions out; `speech_spans` runs the network in the calling
thread.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mediaserver.audio.events import PIPELINE_RATE, SpeechStart, VadEvent
from mediaserver.audio.pcm import Pcm16
from mediaserver.audio.silero import SileroModel
from mediaserver.audio.vad import VadBatcher, VadStream, ms_to_samples
from mediaserver.config import VadSettings

MAX_CLIP_S = 30.0
# Offline the VAD may be finer than on a call (no turn-taking to respect): a shorter pause
# gives the packer more places to cut, the pad keeps word onsets and tails inside a clip.
# The pad is faster-whisper's own (400 ms): pauses under 0.8 s stay whole and longer ones
# shrink to 0.8 s. Packing the spans back to back with 200 ms pads measured 13 % WER on the
# 303 s recording against 4.3 % with 400 ms: Whisper runs sentences together without pauses.
OFFLINE_VAD = VadSettings(sensitivity="normal", min_speech_ms=150, min_silence_ms=300,
                          speech_pad_ms=400)  # fmt: skip
# One VAD stream per 10 s of file, all run in one batch: 30 rows per inference for 5 minutes
# (30 s pieces, 11 rows: 5.2 s of VAD against 3.4 s on the 303 s recording, loaded box).
_PIECE = 10 * PIPELINE_RATE
_FEED = 10 * PIPELINE_RATE  # fed 10 s at a time: bounded buffers, few Python calls
_FRAME = PIPELINE_RATE // 10  # 100 ms: the resolution of a cut inside a span
FILL_S = 5.0  # a window with this much room left takes the first part of the next span


@dataclass(frozen=True, slots=True)
class Clip:
    """A part of the file given to Whisper as one window; sample positions at 16 kHz."""

    start: int
    end: int

    @property
    def seconds(self) -> tuple[float, float]:
        return self.start / PIPELINE_RATE, self.end / PIPELINE_RATE


def speech_spans(pcm: Pcm16, model: SileroModel, settings: VadSettings = OFFLINE_VAD) -> list[Clip]:
    """Speech in `pcm` (16 kHz int16), padded as the settings say, in order.

    The file is cut into `_PIECE`-long pieces, each its own `VadStream`, and one `VadBatcher`
    runs them together: one inference per 32 ms serves every piece (the network's state is
    recurrent, so one stream could only go chunk by chunk). Speech cut by a piece boundary
    comes back as two spans that touch there, and is joined again.
    """
    pieces = range(0, len(pcm), _PIECE)
    streams = [VadStream(settings) for _ in pieces]
    batcher = VadBatcher(model, max_batch=max(len(streams), 1))
    for first in range(0, _PIECE, _FEED):
        for offset, stream in zip(pieces, streams, strict=True):
            end = min(offset + _PIECE, len(pcm))
            if offset + first < end:
                stream.feed(pcm[offset + first : min(offset + first + _FEED, end)])
        batcher.run(streams)
    spans: list[Clip] = []
    join = ms_to_samples(settings.min_silence_ms)
    for offset, stream in zip(pieces, streams, strict=True):
        for span in _spans(stream.events() + stream.flush(), offset):
            if spans and span.start - spans[-1].end <= join:
                spans[-1] = replace(spans[-1], end=span.end)
            else:
                spans.append(span)
    return spans


def _spans(events: Sequence[VadEvent], offset: int) -> list[Clip]:
    spans: list[Clip] = []
    start = -1
    for event in events:
        if isinstance(event, SpeechStart):
            start = event.sample
        elif start >= 0 and event.sample > start:
            spans.append(Clip(offset + start, offset + event.sample))
            start = -1
    return spans


@dataclass(frozen=True, slots=True)
class Layout:
    """A long file's speech packed for Whisper: the speech spans back to back (`audio`), cut
    into windows of at most 30 s (`clips`, in packed time) at span boundaries, and the map back
    to file time. Pauses between spans are left out, as faster-whisper's own VAD chunking does:
    fewer windows to encode and decode, and no silence for the decoder to invent text over."""

    audio: Pcm16
    clips: tuple[Clip, ...]
    # (packed start, file start, length) of each span, in samples, in order.
    pieces: tuple[tuple[int, int, int], ...]

    @property
    def clip_seconds(self) -> tuple[tuple[float, float], ...]:
        return tuple(clip.seconds for clip in self.clips)

    def to_file(self, seconds: float, *, end: bool = False) -> float:
        """A time in the packed audio as a time in the file. A boundary between two spans is
        the end of the first (`end=True`) or the start of the second."""
        if not self.pieces:
            return 0.0
        packed = round(seconds * PIPELINE_RATE)
        starts = [piece[0] for piece in self.pieces]
        index = (bisect_left(starts, packed) if end else bisect_right(starts, packed)) - 1
        packed_start, file_start, length = self.pieces[max(index, 0)]
        return (file_start + min(max(packed - packed_start, 0), length)) / PIPELINE_RATE


def pack(pcm: Pcm16, spans: Sequence[Clip], max_s: float = MAX_CLIP_S) -> Layout:
    """Speech spans of `pcm` packed into windows of at most `max_s` of speech each.

    A window is closed between two spans when the next one does not fit. When it would close
    with more than `FILL_S` to spare, the next span is cut instead, at its quietest 100 ms in
    the last `FILL_S` before the window is full (between words, as a rule): half-empty windows
    cost a whole encoder pass each.
    """
    limit = int(max_s * PIPELINE_RATE)
    fill = int(FILL_S * PIPELINE_RATE)
    pieces: list[tuple[int, int, int]] = []
    clips: list[Clip] = []
    packed = 0

    def add(start: int, end: int, new_clip: bool) -> None:
        nonlocal packed
        length = end - start
        if new_clip or not clips:
            clips.append(Clip(packed, packed + length))
        else:
            clips[-1] = replace(clips[-1], end=packed + length)
        pieces.append((packed, start, length))
        packed += length

    for span in spans:
        start = span.start
        while start < span.end:
            room = limit - (packed - clips[-1].start) if clips else 0
            if span.end - start <= room:
                add(start, span.end, new_clip=False)
                break
            if room >= fill:  # fill this window up to a quiet point of the span
                cut = _quietest(pcm, start + room - fill, start + room)
                add(start, cut, new_clip=False)
                start = cut
                continue
            end = span.end
            if end - start > limit:  # longer than a window on its own
                end = _quietest(pcm, start + limit - fill, start + limit)
            add(start, end, new_clip=True)
            start = end
    audio = (
        np.concatenate([pcm[start : start + n] for _, start, n in pieces])
        if pieces
        else np.zeros(0, np.int16)
    )
    return Layout(audio, tuple(clips), tuple(pieces))


def _quietest(pcm: Pcm16, lo: int, hi: int) -> int:
    """The middle of the quietest 100 ms frame of pcm[lo:hi] (where a cut hurts least)."""
    frames = (hi - lo) // _FRAME
    if frames < 1:
        return hi
    block = pcm[lo : lo + frames * _FRAME].astype(np.float32).reshape(frames, _FRAME)
    energy = np.einsum("ij,ij->i", block, block)
    return lo + int(np.argmin(energy)) * _FRAME + _FRAME // 2


def layout_for(pcm: Pcm16, model: SileroModel, max_s: float = MAX_CLIP_S) -> Layout:
    """The speech of `pcm`, found by the VAD and packed into Whisper windows."""
    return pack(pcm, speech_spans(pcm, model), max_s)
