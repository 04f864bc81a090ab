from __future__ import annotations

import json

import pytest

from mediaserver.batch.transcription import BatchResult, BatchSegment
from mediaserver.domain.document import Entity
from mediaserver.engines.base import Word
from mediaserver.formats.transcripts import FORMATS, MEDIA_TYPES, parse_format, render, timestamp

CPF = Entity("cpf", "123.456.789-09", "12345678909", True, 9, 23)


def result(*segments: BatchSegment, text: str = "", raw: str = "") -> BatchResult:
    return BatchResult(
        task="transcribe",
        language="pt",
        duration=3725.25,
        text=text or " ".join(s.text for s in segments),
        raw_text=raw or " ".join(s.raw_text for s in segments),
        segments=segments,
        entities=(CPF,),
    )


def seg(i: int, start: float, end: float, text: str, **kw: object) -> BatchSegment:
    return BatchSegment(i, start, end, text, kw.pop("raw_text", text), **kw)  # type: ignore[arg-type]


TWO = result(
    seg(0, 0.0, 1.5, "meu cpf é 123.456.789-09", raw_text="meu cpf é um dois três"),
    seg(1, 3661.5, 3725.2504, "obrigado"),
)


@pytest.mark.parametrize(
    ("seconds", "sep", "expected"),
    [
        (0.0, ",", "00:00:00,000"),
        (3661.5, ",", "01:01:01,500"),
        (59.9996, ".", "00:01:00.000"),  # rounds up across the minute
        (0.0004, ".", "00:00:00.000"),
        (100 * 3600 + 0.001, ",", "100:00:00,001"),  # long files keep counting hours
    ],
)
def test_timestamp(seconds: float, sep: str, expected: str) -> None:
    assert timestamp(seconds, sep) == expected


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_timestamp_rejects_impossible_times(bad: float) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        timestamp(bad, ",")


def test_srt_numbers_cues_from_one_with_comma_milliseconds() -> None:
    assert render(TWO, "srt") == (
        "1\n00:00:00,000 --> 00:00:01,500\nmeu cpf é 123.456.789-09\n"
        "\n"
        "2\n01:01:01,500 --> 01:02:05,250\nobrigado\n"
    )


def test_vtt_has_header_and_dot_milliseconds() -> None:
    assert render(TWO, "vtt") == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.500\nmeu cpf é 123.456.789-09\n"
        "\n"
        "01:01:01.500 --> 01:02:05.250\nobrigado\n"
    )


def test_cue_text_never_ends_a_cue_early_and_shows_the_channel() -> None:
    r = result(seg(0, 0, 1, "linha um\n\nlinha dois", channel=1))
    assert render(r, "srt").splitlines()[2] == "[1] linha um linha dois"
    assert render(r, "vtt").splitlines()[3] == "[1] linha um linha dois"


def test_json_and_text_carry_only_the_processed_text() -> None:
    assert json.loads(render(TWO, "json")) == {"text": TWO.text}
    assert render(TWO, "text") == TWO.text + "\n"


def test_verbose_json_has_raw_text_entities_and_segment_fields() -> None:
    body = json.loads(render(TWO, "verbose_json"))
    assert body["language"] == "pt"
    assert body["duration"] == 3725.25
    assert body["text"] == TWO.text
    assert body["raw_text"] == TWO.raw_text
    assert body["entities"] == [CPF.to_dict()]
    assert "words" not in body
    first = body["segments"][0]
    assert first["raw_text"] == "meu cpf é um dois três"
    for key in ("id", "start", "end", "text", "avg_logprob", "no_speech_prob", "tokens"):
        assert key in first
    assert "channel" not in first
    assert [s["id"] for s in body["segments"]] == [0, 1]


def test_verbose_json_words_are_sorted_across_segments() -> None:
    late = seg(1, 2.0, 3.0, "b", words=(Word(2.0, 2.5, "b", 0.5),), channel=1)
    early = seg(0, 0.0, 3.0, "a c", words=(Word(0.0, 1.0, "a", 0.9), Word(2.6, 3.0, "c", 0.8)),
                channel=0)  # fmt: skip
    body = json.loads(render(result(early, late), "verbose_json", words=True))
    assert [w["word"] for w in body["words"]] == ["a", "b", "c"]
    assert [s["channel"] for s in body["segments"]] == [0, 1]


def test_every_format_has_a_media_type_and_parses_back() -> None:
    for fmt in FORMATS:
        assert parse_format(fmt) == fmt
        assert fmt in MEDIA_TYPES


def test_unknown_format_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="json, text, srt, vtt, verbose_json"):
        parse_format("docx")
