"""Where a long file is cut: only in pauses, windows of at most 30 s, times mapped back."""

from __future__ import annotations

import numpy as np
import pytest

from mediaserver.audio.silero import SileroModel
from mediaserver.batch.segmentation import MAX_CLIP_S, Clip, pack, speech_spans
from tests import long_speech

RATE = 16_000


def _s(seconds: float) -> int:
    return round(seconds * RATE)


def test_spans_are_packed_into_windows_of_at_most_30_s_cut_between_spans() -> None:
    pcm = (np.arange(_s(100)) % 7).astype(np.int16)
    spans = [Clip(_s(a), _s(b)) for a, b in ((1, 9), (10, 30), (31, 39), (40, 41), (60, 70))]
    layout = pack(pcm, spans)
    assert [c.seconds for c in layout.clips] == [(0.0, 28.0), (28.0, 47.0)]
    starts = {p[0] for p in layout.pieces} | {layout.pieces[-1][0] + layout.pieces[-1][2]}
    assert all(c.start in starts and c.end in starts for c in layout.clips)  # only between spans
    assert len(layout.audio) == sum(s.end - s.start for s in spans)  # the pauses are left out
    assert np.array_equal(layout.audio[: _s(8)], pcm[_s(1) : _s(9)])
    # Packed time back to file time; a boundary is the end of one span or the start of the next.
    assert layout.to_file(0.5) == 1.5
    assert layout.to_file(8.0) == 10.0
    assert layout.to_file(8.0, end=True) == 9.0
    assert layout.to_file(46.5) == 69.5


def _speech(seconds: float, quiet: tuple[float, float]) -> np.ndarray:
    pcm = (np.random.default_rng(0).standard_normal(_s(seconds)) * 3000).astype(np.int16)
    pcm[_s(quiet[0]) : _s(quiet[1])] = 0  # a breath
    return pcm


def test_a_span_longer_than_a_window_is_cut_at_its_quietest_point() -> None:
    pcm = _speech(70.0, (27.0, 27.3))
    layout = pack(pcm, [Clip(0, len(pcm))])
    lengths = [(c.end - c.start) / RATE for c in layout.clips]
    assert max(lengths) <= MAX_CLIP_S
    assert sum(lengths) == pytest.approx(70.0)
    assert 27.0 <= layout.clips[0].end / RATE <= 27.3


def test_a_window_with_room_left_takes_the_next_span_up_to_a_quiet_point() -> None:
    pcm = _speech(50.0, (28.0, 28.3))
    layout = pack(pcm, [Clip(0, _s(20)), Clip(_s(21), _s(50))])
    assert len(layout.clips) == 2
    assert 27.0 <= layout.clips[0].end / RATE <= 27.3  # 20 s + the next span up to 28.0-28.3
    assert layout.to_file(layout.clips[1].start / RATE) == pytest.approx(
        layout.to_file(layout.clips[0].end / RATE, end=True)
    )


def test_nothing_to_pack() -> None:
    layout = pack(np.zeros(_s(5), np.int16), [])
    assert layout.clips == ()
    assert len(layout.audio) == 0
    assert layout.to_file(1.0) == 0.0


@pytest.mark.skipif(not long_speech.available(), reason="needs asterisk-core-sounds-en-wav")
def test_the_vad_finds_every_prompt_of_real_speech() -> None:
    recording = long_speech.long_recording(seconds=40.0)
    pcm = recording.pcm16k()
    spans = speech_spans(pcm, SileroModel())
    assert spans == sorted(spans, key=lambda s: s.start)
    covered = sum(s.end - s.start for s in spans) / RATE
    # Speech is most of the recording; the pauses (0.25-1 s) are mostly left out.
    assert 0.6 * recording.duration_s < covered < recording.duration_s
    assert len(spans) >= recording.prompts // 2
