"""Transcription response formats (OpenAI's `response_format`): pure renderers.

`json` is `{"text"}`, `text` the bare text, `srt`/`vtt` subtitles with one cue per segment,
`verbose_json` everything: language, duration, segments (with the post-processed and the raw
text, entities and, for `channel=all`, the channel), and words when word timestamps were asked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final, Literal, get_args

from mediaserver.batch.transcription import BatchResult, BatchSegment
from mediaserver.engines.base import Word

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
FORMATS: Final[tuple[ResponseFormat, ...]] = get_args(ResponseFormat)

MEDIA_TYPES: Final[dict[ResponseFormat, str]] = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def parse_format(value: str) -> ResponseFormat:
    """The format named `value`; ValueError listing the known ones otherwise."""
    for known in FORMATS:
        if value == known:
            return known
    raise ValueError(f"response_format must be one of {', '.join(FORMATS)}, got {value!r}")


def timestamp(seconds: float, separator: str) -> str:
    """`HH:MM:SS<sep>mmm` (`,` for SRT, `.` for WebVTT); rounds to the millisecond."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timestamp must be a finite, non-negative number, got {seconds!r}")
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _cue_text(segment: BatchSegment) -> str:
    # A blank line would end the cue early in both formats.
    text = " ".join(segment.text.split())
    return text if segment.channel is None else f"[{segment.channel}] {text}"


def render_srt(result: BatchResult) -> str:
    cues = [
        f"{n}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{_cue_text(s)}\n"
        for n, s in enumerate(result.segments, start=1)
    ]
    return "\n".join(cues)


def render_vtt(result: BatchResult) -> str:
    cues = [
        f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{_cue_text(s)}\n"
        for s in result.segments
    ]
    return "\n".join(["WEBVTT\n", *cues])


def _word(word: Word) -> dict[str, Any]:
    return {
        "word": word.word,
        "start": round(word.start, 3),
        "end": round(word.end, 3),
        "probability": round(word.probability, 4),
    }


def _segment(segment: BatchSegment) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": segment.id,
        "seek": 0,
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text,
        "raw_text": segment.raw_text,
        "tokens": list(segment.tokens),
        "temperature": segment.temperature,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
        "entities": [e.to_dict() for e in segment.entities],
    }
    if segment.channel is not None:
        data["channel"] = segment.channel
    return data


def verbose(result: BatchResult, *, words: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task": result.task,
        "language": result.language,
        "duration": round(result.duration, 3),
        "text": result.text,
        "raw_text": result.raw_text,
        "entities": [e.to_dict() for e in result.entities],
        "segments": [_segment(s) for s in result.segments],
    }
    if words:
        data["words"] = [_word(w) for w in result.words]
    return data


def _json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)


RENDERERS: Final[dict[ResponseFormat, Callable[[BatchResult, bool], str]]] = {
    "json": lambda r, _w: _json({"text": r.text}),
    "text": lambda r, _w: r.text + "\n",
    "srt": lambda r, _w: render_srt(r),
    "vtt": lambda r, _w: render_vtt(r),
    "verbose_json": lambda r, w: _json(verbose(r, words=w)),
}


def render(result: BatchResult, fmt: ResponseFormat, *, words: bool = False) -> str:
    """The response body for `fmt`; `words` adds word timestamps to `verbose_json`."""
    return RENDERERS[fmt](result, words)
