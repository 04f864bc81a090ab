"""What a job stores as JSON: its transcription request and its result.

The result is kept whole (every segment, word and entity), so `GET /v1/jobs/{id}` can render it
in any response format long after the job ran.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from mediaserver.audio.decode import ChannelSelect
from mediaserver.batch.transcription import BatchResult, BatchSegment
from mediaserver.domain.document import Entity
from mediaserver.domain.pipeline import PostprocessOptions
from mediaserver.engines.base import TranscribeOptions, Word


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One job's transcription parameters (the same fields as a transcription request)."""

    model: str
    channel: ChannelSelect
    engine: TranscribeOptions
    postprocess: PostprocessOptions | None
    words: bool  # word timestamps in verbose_json

    def to_dict(self) -> dict[str, Any]:
        engine = {f.name: getattr(self.engine, f.name) for f in fields(TranscribeOptions)}
        post = self.postprocess
        return {
            "model": self.model,
            "channel": self.channel,
            "engine": engine,
            "postprocess": None if post is None else {
                f.name: getattr(post, f.name) for f in fields(PostprocessOptions)
            },
            "words": self.words,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRequest:
        engine = dict(data["engine"])
        temperature = engine.get("temperature", 0.0)
        engine["temperature"] = tuple(temperature) if isinstance(temperature, list) else temperature
        engine["hot_words"] = tuple(engine.get("hot_words", ()))
        engine["clips"] = tuple(tuple(c) for c in engine.get("clips", ()))
        post = data.get("postprocess")
        return cls(
            model=str(data["model"]),
            channel=data["channel"],
            engine=TranscribeOptions(**engine),
            postprocess=None
            if post is None
            else PostprocessOptions(**{**post, "hot_words": tuple(post.get("hot_words", ()))}),
            words=bool(data.get("words", False)),
        )


def _entity(data: dict[str, Any]) -> Entity:
    return Entity(**{f.name: data[f.name] for f in fields(Entity)})


def _entity_dict(entity: Entity) -> dict[str, Any]:
    return {f.name: getattr(entity, f.name) for f in fields(Entity)}


def _word_dict(word: Word) -> list[Any]:
    return [word.start, word.end, word.word, word.probability]


def result_to_dict(result: BatchResult) -> dict[str, Any]:
    segments = []
    for seg in result.segments:
        item = {f.name: getattr(seg, f.name) for f in fields(BatchSegment)}
        item["entities"] = [_entity_dict(e) for e in seg.entities]
        item["words"] = [_word_dict(w) for w in seg.words]
        item["tokens"] = list(seg.tokens)
        segments.append(item)
    return {
        "task": result.task,
        "language": result.language,
        "duration": result.duration,
        "text": result.text,
        "raw_text": result.raw_text,
        "segments": segments,
        "entities": [_entity_dict(e) for e in result.entities],
    }


def result_from_dict(data: dict[str, Any]) -> BatchResult:
    segments = []
    for item in data["segments"]:
        seg = dict(item)
        seg["entities"] = tuple(_entity(e) for e in item["entities"])
        seg["words"] = tuple(Word(*w) for w in item["words"])
        seg["tokens"] = tuple(item["tokens"])
        segments.append(BatchSegment(**seg))
    return BatchResult(
        task=data["task"],
        language=data["language"],
        duration=data["duration"],
        text=data["text"],
        raw_text=data["raw_text"],
        segments=tuple(segments),
        entities=tuple(_entity(e) for e in data["entities"]),
    )
