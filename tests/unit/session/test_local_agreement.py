from __future__ import annotations

import pytest

from mediaserver.session.local_agreement import LocalAgreement


def feed(agreement: LocalAgreement, *hypotheses: str) -> list[str]:
    return [agreement.update(h.split()).stable_text for h in hypotheses]


def test_first_hypothesis_commits_nothing() -> None:
    result = LocalAgreement().update(["bom", "dia"])
    assert result.committed == ()
    assert result.tentative == ("bom", "dia")
    assert result.text == "bom dia"


def test_commits_the_common_prefix_of_the_last_two() -> None:
    stable = feed(LocalAgreement(), "bom", "bom dia", "bom dia eu", "bom dia eu quero")
    assert stable == ["", "bom", "bom dia", "bom dia eu"]


def test_disagreement_commits_nothing_new() -> None:
    agreement = LocalAgreement()
    feed(agreement, "quero", "quero ver")
    result = agreement.update(["quero", "falar", "com"])
    assert result.committed == ("quero",)
    assert result.newly_committed == ()
    assert result.tentative == ("falar", "com")


def test_committed_text_only_grows_even_if_a_redecode_rewords_it() -> None:
    agreement = LocalAgreement()
    feed(agreement, "o pix caiu", "o pix caiu hoje")
    assert agreement.committed == ("o", "pix", "caiu")
    # The model now rewrites a committed word; what was published stands.
    result = agreement.update(["o", "pics", "caiu", "hoje", "cedo"])
    assert result.committed[:3] == ("o", "pix", "caiu")
    assert result.committed == ("o", "pix", "caiu", "hoje")
    assert result.newly_committed == ("hoje",)


def test_comparison_ignores_case_and_punctuation() -> None:
    agreement = LocalAgreement()
    feed(agreement, "Olá, tudo", "olá tudo bem")
    assert agreement.committed == ("olá", "tudo")


def test_reset_starts_a_new_utterance() -> None:
    agreement = LocalAgreement()
    feed(agreement, "meu cpf", "meu cpf é")
    agreement.reset()
    assert agreement.committed == ()
    assert agreement.update(["novo"]).committed == ()


@pytest.mark.parametrize(
    "hypotheses",
    [
        ["a", "a b", "a c", "a c d", "x y z", "a c d e"],
        ["", "  ", "um", "um dois", "um dois"],
        ["t1 t2 t3", "t1 t2", "t1", "t1 t2 t3 t4", "t1 t2 t3 t4 t5"],
    ],
)
def test_stable_text_is_always_a_prefix_of_the_next(hypotheses: list[str]) -> None:
    agreement = LocalAgreement()
    previous: tuple[str, ...] = ()
    for hypothesis in hypotheses:
        committed = agreement.update(hypothesis.split()).committed
        assert committed[: len(previous)] == previous
        previous = committed


def test_reset_forgets_the_utterance() -> None:
    agreement = LocalAgreement()
    feed(agreement, "a b", "a b c")
    agreement.reset()
    assert agreement.committed == ()
    assert agreement.update(["z"]).committed == ()
