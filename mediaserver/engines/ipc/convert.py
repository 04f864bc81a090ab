"""Conversions between the engine dataclasses (`base.py`) and the worker protocol messages."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mediaserver.engines.base import (
    Audio,
    Capabilities,
    Hypothesis,
    Segment,
    TranscribeOptions,
    Transcript,
    Word,
)
from mediaserver.engines.ipc.proto import engine_pb2 as pb

STT_RATE = 16000
_DEFAULT_OPTIONS = TranscribeOptions()


def audio_to_pb(audio: npt.NDArray[np.float32] | npt.NDArray[np.int16]) -> pb.Audio:
    """Mono samples at 16 kHz, float32 in [-1, 1] or int16, as they travel to the worker."""
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {audio.shape}")
    if audio.dtype == np.int16:
        fmt = pb.INT16
    elif audio.dtype == np.float32:
        fmt = pb.FLOAT32
    else:
        raise ValueError(f"audio must be float32 or int16, got {audio.dtype}")
    data = audio.astype(audio.dtype.newbyteorder("<"), copy=False).tobytes()
    return pb.Audio(data=data, format=fmt, sample_rate=STT_RATE)


def audio_from_pb(msg: pb.Audio) -> Audio:
    """Decode to float32 in [-1, 1]; raises ValueError on a malformed chunk."""
    if msg.sample_rate != STT_RATE:
        raise ValueError(f"audio must be {STT_RATE} Hz, got {msg.sample_rate}")
    if msg.format == pb.FLOAT32:
        if len(msg.data) % 4:
            raise ValueError("float32 audio length is not a multiple of 4 bytes")
        return np.frombuffer(msg.data, dtype="<f4").astype(np.float32)
    if msg.format == pb.INT16:
        if len(msg.data) % 2:
            raise ValueError("int16 audio length is not a multiple of 2 bytes")
        samples = np.frombuffer(msg.data, dtype="<i2")
        return (samples.astype(np.float32) / 32768.0).astype(np.float32)
    raise ValueError(f"unknown sample format {msg.format}")


def options_to_pb(options: TranscribeOptions) -> pb.TranscribeOptions:
    temps = options.temperature
    msg = pb.TranscribeOptions(
        task=options.task,
        hot_words=list(options.hot_words),
        temperatures=list(temps) if isinstance(temps, tuple) else [temps],
        word_timestamps=options.word_timestamps,
        beam_size=options.beam_size,
        batched=options.batched,
        batch_size=options.batch_size,
        clips=[pb.Clip(start=start, end=end) for start, end in options.clips],
    )
    if options.language is not None:
        msg.language = options.language
    if options.prompt is not None:
        msg.prompt = options.prompt
    return msg


def options_from_pb(msg: pb.TranscribeOptions) -> TranscribeOptions:
    if msg.task not in ("transcribe", "translate"):
        raise ValueError(f"task must be 'transcribe' or 'translate', got {msg.task!r}")
    temps = tuple(float(t) for t in msg.temperatures)
    return TranscribeOptions(
        language=msg.language if msg.HasField("language") else None,
        task="translate" if msg.task == "translate" else "transcribe",
        prompt=msg.prompt if msg.HasField("prompt") else None,
        hot_words=tuple(msg.hot_words),
        temperature=temps[0] if len(temps) == 1 else (temps or _DEFAULT_OPTIONS.temperature),
        word_timestamps=msg.word_timestamps,
        beam_size=msg.beam_size or _DEFAULT_OPTIONS.beam_size,
        batched=msg.batched,
        batch_size=msg.batch_size or _DEFAULT_OPTIONS.batch_size,
        clips=tuple((clip.start, clip.end) for clip in msg.clips),
    )


def _word_to_pb(w: Word) -> pb.Word:
    return pb.Word(start=w.start, end=w.end, word=w.word, probability=w.probability)


def _word_from_pb(w: pb.Word) -> Word:
    return Word(start=w.start, end=w.end, word=w.word, probability=w.probability)


def transcript_to_pb(t: Transcript) -> pb.Transcript:
    segments = [
        pb.Segment(
            id=s.id,
            start=s.start,
            end=s.end,
            text=s.text,
            avg_logprob=s.avg_logprob,
            no_speech_prob=s.no_speech_prob,
            compression_ratio=s.compression_ratio,
            temperature=s.temperature,
            tokens=list(s.tokens),
            words=[_word_to_pb(w) for w in s.words],
        )
        for s in t.segments
    ]
    return pb.Transcript(
        text=t.text,
        language=t.language,
        duration=t.duration,
        segments=segments,
        language_probability=t.language_probability,
    )


def transcript_from_pb(msg: pb.Transcript) -> Transcript:
    segments = tuple(
        Segment(
            id=s.id,
            start=s.start,
            end=s.end,
            text=s.text,
            avg_logprob=s.avg_logprob,
            no_speech_prob=s.no_speech_prob,
            compression_ratio=s.compression_ratio,
            temperature=s.temperature,
            tokens=tuple(s.tokens),
            words=tuple(_word_from_pb(w) for w in s.words),
        )
        for s in msg.segments
    )
    return Transcript(
        text=msg.text,
        language=msg.language,
        duration=msg.duration,
        segments=segments,
        language_probability=msg.language_probability,
    )


def hypothesis_to_pb(h: Hypothesis, audio_s: float) -> pb.Hypothesis:
    words = [_word_to_pb(w) for w in h.words]
    return pb.Hypothesis(
        text=h.text, words=words, is_final=h.is_final, audio_s=audio_s, language=h.language or ""
    )


def hypothesis_from_pb(msg: pb.Hypothesis) -> Hypothesis:
    words = tuple(_word_from_pb(w) for w in msg.words)
    return Hypothesis(
        text=msg.text, words=words, is_final=msg.is_final, language=msg.language or None
    )


def capabilities_to_pb(c: Capabilities) -> pb.Capabilities:
    return pb.Capabilities(
        hot_words=c.hot_words,
        initial_prompt=c.initial_prompt,
        translation=c.translation,
        language_detection=c.language_detection,
        word_timestamps=c.word_timestamps,
        native_partials=c.native_partials,
    )


def capabilities_from_pb(msg: pb.Capabilities) -> Capabilities:
    return Capabilities(
        hot_words=msg.hot_words,
        initial_prompt=msg.initial_prompt,
        translation=msg.translation,
        language_detection=msg.language_detection,
        word_timestamps=msg.word_timestamps,
        native_partials=msg.native_partials,
    )
