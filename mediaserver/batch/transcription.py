"""Batch transcription of a decoded file, shared by the REST API and `mediaserver transcribe`.

    channels = preprocess(decoded.samples, settings.audio)        # sync: run it in a thread
    result = await transcribe(engines, model, tagged(channels), options, progress)
    result = postprocess(result, postprocessor, pp_options)      # sync: its own thread

Stereo call recordings carry one party per channel: with `channel=all` each channel is
transcribed on its own and the segments are merged by start time, tagged with their channel.
Post-processing runs on every segment and, separately, on the whole text, so that an entity
spoken across a segment boundary is still found in the text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mediaserver.audio.events import PIPELINE_RATE
from mediaserver.audio.pcm import Pcm16
from mediaserver.audio.pipeline import Preprocessor
from mediaserver.audio.resample import OFFLINE_QUALITY
from mediaserver.audio.silero import SileroModel
from mediaserver.batch.segmentation import Layout, layout_for
from mediaserver.config import AudioSettings
from mediaserver.domain.document import Entity
from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor
from mediaserver.engines.base import (
    ProgressCallback,
    Task,
    TranscribeOptions,
    Transcript,
    Word,
)

# Files longer than this are cut in pauses by the VAD and the clips decoded batched
# (faster-whisper's batched pipeline); shorter ones gain nothing from it and lose
# cross-window context.
BATCHED_AFTER_S = 60.0
_BLOCK = 10 * PIPELINE_RATE  # preprocessing works through the file in 10 s blocks


@dataclass(frozen=True, slots=True)
class BatchSegment:
    id: int
    start: float
    end: float
    text: str  # post-processed (the raw text when post-processing is off)
    raw_text: str  # as the engine wrote it
    channel: int | None = None  # the source channel with `channel=all`, else None
    entities: tuple[Entity, ...] = ()  # offsets into `text`
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    temperature: float = 0.0
    tokens: tuple[int, ...] = ()
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchResult:
    task: Task
    language: str
    duration: float
    text: str
    raw_text: str
    segments: tuple[BatchSegment, ...] = ()
    entities: tuple[Entity, ...] = ()  # offsets into `text`

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(sorted((w for s in self.segments for w in s.words), key=lambda w: w.start))


def preprocess(samples: npt.NDArray[Any], settings: AudioSettings) -> list[Pcm16]:
    """The rows of (channels, frames) 16 kHz PCM16 as Whisper should hear them: denoised when
    `audio.denoise` is on, otherwise untouched.

    No gain normalisation and no DC removal: Whisper normalises its log-mel input itself. On
    the 303 s test recording (benchmarks/batch.py) the live path's gain stage before fixed
    30 s windows doubled the WER (issue 14); before VAD-cut windows it changed 1 word in 612,
    so it is not worth its time. The live path keeps both (its VAD thresholds assume them).
    """
    if samples.ndim != 2 or samples.dtype != np.int16:
        raise ValueError(f"expected (channels, frames) int16 audio, got {samples.dtype} "
                         f"{samples.shape}")  # fmt: skip
    if not settings.denoise:
        return [np.ascontiguousarray(row) for row in samples]
    settings = replace(settings, gain_normalize=False, dc_remove=False)
    out: list[Pcm16] = []
    for row in samples:
        pre = Preprocessor(PIPELINE_RATE, settings, quality=OFFLINE_QUALITY)
        try:
            pieces = [pre.process(row[i : i + _BLOCK]) for i in range(0, len(row), _BLOCK)]
            pieces.append(pre.flush())
        finally:
            pre.close()
        out.append(np.concatenate(pieces) if pieces else np.zeros(0, np.int16))
    return out


class FileTranscriber(Protocol):
    """What decodes a file: the `Supervisor` (worker processes), or an engine in-process."""

    async def transcribe_file(
        self, model: str, audio: Pcm16, options: TranscribeOptions, *,
        progress: ProgressCallback | None = None,
    ) -> Transcript: ...  # fmt: skip


@cache
def _vad_model() -> SileroModel:
    # One onnxruntime session per process, shared by every file (its run() is thread-safe).
    return SileroModel()


def engine_options(options: TranscribeOptions, layout: Layout | None) -> TranscribeOptions:
    """A long file's packed speech is decoded batched, one window per clip."""
    if layout is None:
        return replace(options, batched=False, clips=())
    return replace(options, batched=True, clips=layout.clip_seconds)


def plan(audio: Pcm16) -> Layout | None:
    """How a long file is decoded: its speech packed into windows (no clips: no speech); None
    for a short file, decoded whole. Sync: runs the VAD, so call it in a thread."""
    if len(audio) / PIPELINE_RATE <= BATCHED_AFTER_S:
        return None
    return layout_for(audio, _vad_model())


def to_file_time(transcript: Transcript, layout: Layout, duration: float) -> Transcript:
    """Segment and word times of a decode of `layout.audio`, in the file's time."""

    def word(w: Word) -> Word:
        return replace(w, start=layout.to_file(w.start), end=layout.to_file(w.end, end=True))

    segments = tuple(
        replace(
            seg,
            start=layout.to_file(seg.start),
            end=layout.to_file(seg.end, end=True),
            words=tuple(word(w) for w in seg.words),
        )
        for seg in transcript.segments
    )
    return replace(transcript, segments=segments, duration=duration)


async def transcribe(
    engines: FileTranscriber,
    model: str,
    channels: Sequence[tuple[int | None, Pcm16]],
    options: TranscribeOptions,
    progress: ProgressCallback | None = None,
) -> BatchResult:
    """Transcribe each (channel tag, audio) in turn; progress covers all of them, in seconds of
    audio, as each window is decoded."""
    total = sum(len(audio) for _, audio in channels) / PIPELINE_RATE
    done_before = 0.0
    results: list[tuple[int | None, Transcript]] = []
    for tag, audio in channels:
        duration = len(audio) / PIPELINE_RATE
        layout = await asyncio.to_thread(plan, audio)

        def report(done: float, _total: float, offset: float = done_before) -> None:
            if progress is not None:
                progress(min(offset + done, total), total)

        transcript = await _channel(engines, model, audio, options, layout, report)
        results.append((tag, transcript))
        report(duration, duration)  # the worker may coalesce its last progress report
        done_before += duration
    return merge(results, options.task)


async def _channel(
    engines: FileTranscriber, model: str, audio: Pcm16, options: TranscribeOptions,
    layout: Layout | None, report: ProgressCallback,
) -> Transcript:  # fmt: skip
    duration = len(audio) / PIPELINE_RATE
    if layout is None:
        return await engines.transcribe_file(
            model, audio, engine_options(options, None), progress=report
        )
    if not layout.clips:  # the VAD heard no speech: nothing to invent text over
        return Transcript("", options.language or "", duration)

    def packed_report(done: float, _total: float) -> None:
        report(layout.to_file(done, end=True), duration)

    transcript = await engines.transcribe_file(
        model, layout.audio, engine_options(options, layout), progress=packed_report
    )
    return to_file_time(transcript, layout, duration)


def merge(transcripts: Sequence[tuple[int | None, Transcript]], task: Task) -> BatchResult:
    """One result from per-channel transcripts: segments ordered by time, ids renumbered."""
    if not transcripts:
        raise ValueError("nothing to merge: no transcripts")
    tagged = [(tag, seg) for tag, t in transcripts for seg in t.segments]
    tagged.sort(key=lambda item: (item[1].start, -1 if item[0] is None else item[0]))
    segments = tuple(
        BatchSegment(
            id=i,
            start=seg.start,
            end=seg.end,
            text=seg.text,
            raw_text=seg.text,
            channel=tag,
            avg_logprob=seg.avg_logprob,
            no_speech_prob=seg.no_speech_prob,
            compression_ratio=seg.compression_ratio,
            temperature=seg.temperature,
            tokens=seg.tokens,
            words=seg.words,
        )
        for i, (tag, seg) in enumerate(tagged)
    )
    if len(transcripts) == 1:
        text = transcripts[0][1].text
    else:
        text = " ".join(s.text for s in segments if s.text)
    first = transcripts[0][1]
    return BatchResult(
        task=task,
        language=first.language,
        duration=max(t.duration for _, t in transcripts),
        text=text,
        raw_text=text,
        segments=segments,
    )


def postprocess(
    result: BatchResult, processor: Postprocessor, options: PostprocessOptions
) -> BatchResult:
    """ITN, entities, hot words and redaction on each segment and on the whole text.

    With redaction the raw text is replaced too: it holds exactly what redaction hides.
    """
    segments = []
    for seg in result.segments:
        done = processor.process(seg.raw_text, options)
        raw = done.text if options.redact else seg.raw_text
        segments.append(replace(seg, text=done.text, raw_text=raw, entities=tuple(done.entities)))
    whole = processor.process(result.raw_text, options)
    return replace(
        result,
        text=whole.text,
        raw_text=whole.text if options.redact else result.raw_text,
        segments=tuple(segments),
        entities=tuple(whole.entities),
    )
