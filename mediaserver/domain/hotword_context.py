"""When a hot word that is also an ordinary Portuguese word may replace that word (§5).

Banks are named `Caixa`, `Inter`, `Original`, `Neon`: configured as hot words, they would turn
every `caixa de sapato` into the bank. Such a hot word replaces a word only next to banking
context (one of `CONTEXT_WORDS` within 3 words either side), or when the recognizer already
wrote the word capitalised in mid-sentence, which is how it marks a name.
"""

from __future__ import annotations

from collections.abc import Sequence

# Folded (lower case, no accents) hot words that are also everyday words, so that a match on
# them is no evidence on its own. Names of banks, brokers and fintechs in Brazil.
ORDINARY_WORDS = frozenset({
    "caixa", "inter", "original", "next", "pan", "neon", "safra", "modal", "agora", "rico",
    "genial", "toro", "mercantil", "alfa", "cora", "ame", "will", "stone", "clear", "fibra",
})  # fmt: skip
CONTEXT_WORDS = frozenset({
    "banco", "bancos", "conta", "contas", "app", "aplicativo", "aplicativos", "cartao",
    "cartoes", "pix", "transferencia", "transferencias", "agencia", "agencias", "saldo",
    "fatura", "faturas",
})  # fmt: skip
CONTEXT_WINDOW = 3
_SENTENCE_END = ".!?…:"


def in_context(folded: Sequence[str], first: int, last: int) -> bool:
    """Whether a banking word lies within 3 words of the words `first..last` (inclusive);
    `folded` holds the folded words of the text ("" for a mark, which is not a word)."""
    before = [w for w in folded[:first] if w][-CONTEXT_WINDOW:]
    after = [w for w in folded[last + 1 :] if w][:CONTEXT_WINDOW]
    return not CONTEXT_WORDS.isdisjoint(before + after)


def capitalised_mid_sentence(text: str, start: int) -> bool:
    """The word at `start` begins with a capital that is not there because a sentence starts
    (nor because the whole transcript is in capitals)."""
    if not text[start : start + 1].isupper() or text.isupper():
        return False
    before = text[:start].rstrip()
    return bool(before) and before[-1] not in _SENTENCE_END
