"""A phonetic key for Brazilian Portuguese words, in the spirit of BuscaBR / Metaphone-pt.

Two spellings that a Brazilian speaker pronounces alike get the same key, so a recogniser's
`pics` and a configured `PIX` meet at `piks`. Unlike Metaphone the key keeps its vowels: hot
words are often three-letter acronyms, and without vowels too many ordinary words would collide.

Rules, applied in this order to the lower-cased word:

1. `ç` is a fixed /s/; accents are folded away; anything but a-z is dropped.
2. Digraphs: `ph` → f; `ch`, `sh` → x (the /ʃ/ of `chave`); `lh` → li; `nh` → ni; any other
   `h` is silent.
3. Sibilants: `sc`, `xc`, `c` before e/i, `ç` and `ss` are /s/; a single `s` between vowels is
   /z/ (`casa` → kaza); `z` at the end is /s/ (`paz` → pas).
4. Velars: `qu` and `gu` before e/i are k and g; other `qu` is ku; other `c`, `q`, `k` are k;
   `g` before e/i is j (`gente` → jenti).
5. `x`: at the end /ks/ (`pix` → piks); `ex` + vowel at the start /z/ (`exame` → ezami);
   before a consonant /s/ (`texto` → testu); otherwise /ʃ/ (`peixe` → peixi).
6. `w` → v; a final `ay` is the English /ei/ of loanwords (`PicPay` → pikpei); `y` → i;
   `l` closing a syllable → u (`Brasil` → braziu); `m` closing a syllable → n (`bem` → ben).
7. Final vowels as spoken: `e`/`es` → i/is, `o`/`os` → u/us; a final b, d, k, p, t or g takes
   the epenthetic i Brazilians add (`Selic` → seliki, like `selique`).
8. Runs of the same letter collapse to one (`carro` → karu, `Nubbank` → nubanki).

The key is lower case a-z. A word with no letters has the empty key.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Upper-case letters mark sounds that later rules must not touch: S is a /s/ that must not
# voice to /z/ between vowels (`doce`, `passa`), K a /k/, G a hard g (`guerra`, not /ʒ/).
# Each rule names the letters it cannot match without, so most rules skip most words.
_RULES: tuple[tuple[str, str, str], ...] = (
    # (needs one of, pattern, replacement)
    # 2. digraphs and the silent h
    ("h", r"ph", "f"),
    ("h", r"[cs]h", "x"),
    ("h", r"lh", "li"),
    ("h", r"nh", "ni"),
    ("h", r"h", ""),
    # 3-4. sibilants and velars (before the single-letter rules below see c, q, g)
    ("c", r"(?:s|x)c(?=[ei])", "S"),
    ("S", r"sS", "S"),
    ("s", r"ss", "S"),
    ("q", r"qu(?=[ei])", "K"),
    ("q", r"qu", "Ku"),
    ("g", r"gu(?=[ei])", "G"),
    ("c", r"c(?=[eiy])", "S"),
    ("cqk", r"[cqk]", "K"),
    ("g", r"g(?=[eiy])", "j"),
    # 5. x
    ("x", r"x$", "Ks"),
    ("x", r"^ex(?=[aeiou])", "ez"),
    ("x", r"x(?=[^aeiou])", "S"),
    # 3. voicing of a lone s between vowels, final z
    ("s", r"(?<=[aeiou])s(?=[aeiou])", "z"),
    ("z", r"z$", "S"),
    # 6. assorted consonants
    ("w", r"w", "v"),
    ("y", r"ay$", "ei"),
    ("y", r"y", "i"),
    ("l", r"(?<=[aeiou])l(?=[^aeiou]|$)", "u"),
    ("m", r"(?<=[aeiou])m(?=[^aeiou]|$)", "n"),
    # 7. final vowels and the epenthetic i
    ("e", r"e(s?)$", r"i\1"),
    ("o", r"o(s?)$", r"u\1"),
    ("bdKptgG", r"([bdKptgG])$", r"\1i"),
)
_COMPILED = tuple(
    (frozenset(needs), re.compile(pattern), replacement) for needs, pattern, replacement in _RULES
)
_REPEATS = re.compile(r"(.)\1+")


def _fold(word: str) -> str:
    """Lower case, `ç` as a fixed /s/, accents removed, only a-z (and the S marker) kept."""
    lowered = word.lower()
    if lowered.isascii() and lowered.isalpha():  # the common case
        return lowered
    decomposed = unicodedata.normalize("NFD", lowered.replace("ç", "S"))
    return "".join(ch for ch in decomposed if "a" <= ch <= "z" or ch == "S")


@lru_cache(maxsize=8192)
def phonetic_key(word: str) -> str:
    """The pt-BR phonetic key of `word` (see the module docstring for the rules)."""
    key = _fold(word)
    for needs, pattern, replacement in _COMPILED:
        if not needs.isdisjoint(key):
            key = pattern.sub(replacement, key)
    return _REPEATS.sub(r"\1", key.lower())


__all__ = ["phonetic_key"]
