from __future__ import annotations

import numpy as np
import pytest

from mediaserver.batch.segmentation import Clip, pack
from mediaserver.batch.transcription import (
    BATCHED_AFTER_S,
    engine_options,
    merge,
    plan,
    postprocess,
    preprocess,
)
from mediaserver.config import AudioSettings
from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor
from mediaserver.engines.base import Segment, TranscribeOptions, Transcript


def transcript(*segments: Segment, language: str = "pt", duration: float = 10.0) -> Transcript:
    return Transcript(" ".join(s.text for s in segments), language, duration, segments)


def test_merge_orders_channels_by_time_and_renumbers() -> None:
    left = transcript(Segment(0, 0.0, 1.0, "alô"), Segment(1, 4.0, 5.0, "pode"), duration=6.0)
    right = transcript(Segment(0, 2.0, 3.0, "bom dia"), duration=7.0)
    merged = merge([(0, left), (1, right)], "transcribe")
    assert [(s.id, s.channel, s.text) for s in merged.segments] == [
        (0, 0, "alô"),
        (1, 1, "bom dia"),
        (2, 0, "pode"),
    ]
    assert merged.text == merged.raw_text == "alô bom dia pode"
    assert merged.duration == 7.0


def test_merge_of_one_transcript_keeps_its_text_and_no_channel() -> None:
    one = Transcript("texto do motor", "pt", 2.0, (Segment(0, 0.0, 2.0, "texto do motor"),))
    merged = merge([(None, one)], "translate")
    assert merged.text == "texto do motor"
    assert merged.task == "translate"
    assert merged.segments[0].channel is None


def test_merge_needs_something() -> None:
    with pytest.raises(ValueError, match="nothing to merge"):
        merge([], "transcribe")


def test_postprocess_formats_segments_and_whole_text_keeping_raw() -> None:
    raw = merge([(None, transcript(Segment(0, 0.0, 2.0, "paguei duzentos reais")))], "transcribe")
    done = postprocess(raw, Postprocessor(), PostprocessOptions())
    assert done.text == "paguei R$ 200,00"
    assert done.segments[0].text == "paguei R$ 200,00"
    assert done.raw_text == done.segments[0].raw_text == "paguei duzentos reais"
    assert [e.type for e in done.entities] == [e.type for e in done.segments[0].entities]
    assert done.entities


def test_redaction_also_hides_the_raw_text() -> None:
    spoken = "meu cpf é um dois três quatro cinco seis sete oito nove zero nove"
    raw = merge([(None, transcript(Segment(0, 0.0, 5.0, spoken)))], "transcribe")
    done = postprocess(raw, Postprocessor(), PostprocessOptions(redact=True))
    assert "789" not in done.text
    assert done.raw_text == done.text
    assert done.segments[0].raw_text == done.segments[0].text


def test_preprocess_keeps_each_channel_and_its_length() -> None:
    rng = np.random.default_rng(0)
    stereo = (rng.standard_normal((2, 16_000 * 25)) * 3000 + 500).astype(np.int16)
    rows = preprocess(stereo, AudioSettings())
    assert [len(r) for r in rows] == [stereo.shape[1]] * 2
    assert all(r.dtype == np.int16 for r in rows)
    # Whisper hears the file as it is: no gain, no DC stage (measured not to help, see the
    # docstring); only the denoiser, when asked for, changes the audio.
    assert np.array_equal(rows[1], stereo[1])


def test_preprocess_refuses_mono_vectors() -> None:
    with pytest.raises(ValueError, match="channels, frames"):
        preprocess(np.zeros(160, np.int16), AudioSettings())


def test_long_files_use_batched_decoding_of_vad_cut_windows() -> None:
    short = np.zeros(int(BATCHED_AFTER_S * 16000), np.int16)
    assert plan(short) is None
    assert not engine_options(TranscribeOptions(), None).batched
    silent = plan(np.zeros(int((BATCHED_AFTER_S + 1) * 16000), np.int16))
    assert silent is not None
    assert silent.clips == ()
    layout = pack(short, [Clip(0, 16000), Clip(32000, 48000)])
    options = engine_options(TranscribeOptions(), layout)
    assert options.batched
    assert options.clips == ((0.0, 2.0),)
