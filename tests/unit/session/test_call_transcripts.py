"""Partial policies: LocalAgreement for encoder-decoders, native partials for CTC."""

from __future__ import annotations

from mediaserver.engines.base import Architecture, Hypothesis, Word
from mediaserver.session.transcripts import (
    NativePartials,
    StablePartials,
    confidence,
    partials_for,
)


def test_architecture_picks_the_policy() -> None:
    assert isinstance(partials_for(Architecture.ENCODER_DECODER), StablePartials)
    assert isinstance(partials_for(Architecture.CTC), NativePartials)


def test_encoder_decoder_partials_are_only_agreed_words() -> None:
    policy = partials_for(Architecture.ENCODER_DECODER)
    assert policy.partial(Hypothesis("bom dia")) is None  # nothing to agree with yet
    assert policy.partial(Hypothesis("bom diga eu")) == "bom"
    assert policy.partial(Hypothesis("bom dia eu")) is None  # "diga"/"dia" still disputed
    assert policy.partial(Hypothesis("bom dia eu queria")) == "bom dia eu"
    # The final is the final decode, punctuation and all, even where partials said otherwise.
    assert policy.final(Hypothesis(" bom dia,  eu quero o saldo", is_final=True)) == (
        "bom dia, eu quero o saldo"
    )
    assert policy.partial(Hypothesis("bom dia")) is None  # a new utterance: nothing agreed
    assert policy.partial(Hypothesis("bom dia eu")) == "bom dia"
    assert policy.final(Hypothesis("Bondia, quero", is_final=True)) == "Bondia, quero"
    # A new utterance starts from nothing.
    assert policy.partial(Hypothesis("outra")) is None


def test_ctc_partials_are_published_when_they_change() -> None:
    policy = partials_for(Architecture.CTC)
    assert policy.partial(Hypothesis("")) is None
    assert policy.partial(Hypothesis("bom")) == "bom"
    assert policy.partial(Hypothesis("bom ")) is None
    assert policy.partial(Hypothesis("bom dia")) == "bom dia"
    assert policy.final(Hypothesis(" bom dia ", is_final=True)) == "bom dia"
    assert policy.partial(Hypothesis("bom")) == "bom"


def test_confidence_is_the_mean_word_probability() -> None:
    words = (Word(0.0, 0.2, "bom", 0.9), Word(0.2, 0.5, "dia", 0.5))
    assert confidence(Hypothesis("bom dia", words)) == 0.7
    assert confidence(Hypothesis("bom dia")) is None
