from __future__ import annotations

import numpy as np
import pytest

from mediaserver.engines.base import (
    Capabilities,
    Hypothesis,
    Segment,
    TranscribeOptions,
    Transcript,
    Word,
)
from mediaserver.engines.ipc import convert
from mediaserver.engines.ipc.proto import engine_pb2 as pb


def test_int16_audio_decodes_to_float_in_range() -> None:
    samples = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    decoded = convert.audio_from_pb(convert.audio_to_pb(samples))
    assert decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, [0.0, 0.5, -1.0, 32767 / 32768])


def test_float32_audio_round_trips_exactly() -> None:
    samples = np.linspace(-1, 1, 1601, dtype=np.float32)
    np.testing.assert_array_equal(convert.audio_from_pb(convert.audio_to_pb(samples)), samples)


@pytest.mark.parametrize(
    ("msg", "error"),
    [
        (pb.Audio(data=b"\0\0", format=pb.INT16, sample_rate=8000), "16000 Hz"),
        (pb.Audio(data=b"\0\0\0", format=pb.INT16, sample_rate=16000), "multiple of 2"),
        (pb.Audio(data=b"\0\0", format=pb.FLOAT32, sample_rate=16000), "multiple of 4"),
        (pb.Audio(data=b"", format=pb.SAMPLE_FORMAT_UNSPECIFIED, sample_rate=16000), "format"),
    ],
)
def test_malformed_audio_is_refused(msg: pb.Audio, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        convert.audio_from_pb(msg)


def test_audio_to_pb_refuses_stereo_and_other_dtypes() -> None:
    with pytest.raises(ValueError, match="mono"):
        convert.audio_to_pb(np.zeros((2, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="float32 or int16"):
        convert.audio_to_pb(np.zeros(10, dtype=np.float64))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        TranscribeOptions(),
        TranscribeOptions(
            language="pt", task="translate", prompt="conta", hot_words=("PIX", "CPF"),
            temperature=0.0, word_timestamps=True, beam_size=1, batched=True, batch_size=4,
        ),
    ],
)  # fmt: skip
def test_options_round_trip(options: TranscribeOptions) -> None:
    assert convert.options_from_pb(convert.options_to_pb(options)) == options


def test_unknown_task_is_refused() -> None:
    msg = convert.options_to_pb(TranscribeOptions())
    msg.task = "summarize"
    with pytest.raises(ValueError, match="task"):
        convert.options_from_pb(msg)


def test_transcript_hypothesis_and_capabilities_round_trip() -> None:
    word = Word(start=0.25, end=0.5, word="olá", probability=0.75)
    transcript = Transcript(
        text="olá",
        language="pt",
        duration=1.5,
        segments=(Segment(id=0, start=0.0, end=1.5, text="olá", tokens=(1, 2), words=(word,)),),
        language_probability=0.5,
    )
    assert convert.transcript_from_pb(convert.transcript_to_pb(transcript)) == transcript
    hypothesis = Hypothesis(text="olá", words=(word,), is_final=True, language="pt")
    msg = convert.hypothesis_to_pb(hypothesis, audio_s=1.5)
    assert msg.audio_s == 1.5
    assert convert.hypothesis_from_pb(msg) == hypothesis
    unknown = Hypothesis(text="olá")  # an engine that cannot say stays None, not ""
    assert convert.hypothesis_from_pb(convert.hypothesis_to_pb(unknown, 0.5)) == unknown
    caps = Capabilities(hot_words=True, native_partials=True)
    assert convert.capabilities_from_pb(convert.capabilities_to_pb(caps)) == caps
