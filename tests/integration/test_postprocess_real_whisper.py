"""Post-processing of what a real recognizer wrote: faster-whisper base over espeak-ng pt-BR.

The recognizer is weak on a robotic voice and its words are not asserted. What is asserted:
whatever it wrote, the post-processed text, its entity records and its `--explain` trace agree
with each other and with the input; and where it got the digits of a phone, a CPF or an amount
right (written in its own way: `1 1 9 9 ...`, `1, 2, 3, ...`, `2 mil reais`), the entity comes
out formatted. The sentences use digits that espeak-ng says clearly enough for Whisper base
(`sete` and `zero` are mostly misheard).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import wave
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from mediaserver.domain import checks
from mediaserver.domain.money import format_money
from mediaserver.domain.pipeline import Entity, Postprocessor, PostprocessResult, Rewrite
from tests.real_model import RealModelUnavailable, whisper_base_dir

pytestmark = [pytest.mark.real_model, pytest.mark.needs_espeak]

_RATE = 16_000

# (what espeak-ng says, a test of what the recognizer wrote, the entity that must then exist)
Check = Callable[[str], bool]
CASES: list[tuple[str, Check, tuple[str, str]]] = [
    (
        "Telefone: um, um, nove, nove, oito, oito, seis, cinco, quatro, três, dois.",
        lambda raw: re.sub(r"\D", "", raw) == "11998865432",
        ("phone", "11998865432"),
    ),
    (
        # A valid CPF without its keyword (espeak's `CPF` is rarely heard as such).
        "Um, dois, três, quatro, cinco, seis, oito, nove, dois, seis, nove.",
        lambda raw: re.sub(r"\D", "", raw) == "12345689269",
        ("cpf", "12345689269"),
    ),
    (
        "Paguei dois mil reais.",
        lambda raw: re.search(r"(?<!\w)(2|dois) mil reais", raw, re.IGNORECASE) is not None,
        ("money", "2000.00"),
    ),
]


def _speech(text: str) -> npt.NDArray[np.float32]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run(
        ["espeak-ng", "-v", "pt-br", "-s", "150", "--stdout", text],
        capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    audio: npt.NDArray[np.float32] = soxr.resample(pcm.astype(np.float32) / 32768, rate, _RATE)
    return audio


@pytest.fixture(scope="module")
def whisper() -> Any:
    faster_whisper = pytest.importorskip("faster_whisper")
    try:
        folder = whisper_base_dir()
    except RealModelUnavailable as exc:
        pytest.skip(f"faster-whisper base is not available offline: {exc}")
    return faster_whisper.WhisperModel(
        str(folder), device="cpu", compute_type="int8", cpu_threads=2
    )


def _transcribe(model: Any, text: str) -> str:
    segments, _ = model.transcribe(
        _speech(text), language="pt", beam_size=1, temperature=0.0,
        condition_on_previous_text=False, without_timestamps=True, max_new_tokens=60,
    )  # fmt: skip
    return " ".join(segment.text.strip() for segment in segments)


def _assert_consistent(raw: str, result: PostprocessResult, trace: list[Rewrite]) -> None:
    """The output, the records and the trace tell one story, whatever the input was."""
    rebuilt, cursor = [], 0
    for rewrite in trace:
        assert result.text[rewrite.start : rewrite.end] == rewrite.after
        rebuilt += [result.text[cursor : rewrite.start], rewrite.before]
        cursor = rewrite.end
    assert "".join([*rebuilt, result.text[cursor:]]) == raw
    for ent in result.entities:
        assert result.text[ent.start : ent.end] == ent.text
        _assert_sane(ent)


def _assert_sane(ent: Entity) -> None:
    if ent.type == "cpf":
        assert ent.valid == checks.cpf_valid(ent.value)
    elif ent.type == "phone":
        assert checks.phone_shape(ent.value.removeprefix("55") if ent.text[0] == "+" else ent.value)
    elif ent.type == "money":
        reais, cents = ent.value.split(".")
        assert format_money(int(reais) * 100 + int(cents)) == (ent.text, ent.value)


def test_postprocessing_what_whisper_base_wrote(whisper: Any) -> None:
    processor = Postprocessor()
    written: list[str] = []
    checked = 0
    for said, got_it_right, (kind, value) in CASES:
        raw = _transcribe(whisper, said)
        written.append(raw)
        trace: list[Rewrite] = []
        result = processor.process(raw, trace=trace)
        _assert_consistent(raw, result, trace)
        if got_it_right(raw):
            checked += 1
            found = [(e.type, e.value) for e in result.entities]
            assert (kind, value) in found, (raw, result.text, found)
    if not checked:
        pytest.skip(f"the recognizer got none of the numbers right: {written}")
