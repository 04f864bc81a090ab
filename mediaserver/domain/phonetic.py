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
_ORDERED_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        # 2. digraphs and the silent h
        (r"ph", "f"),
        (r"[cs]h", "x"),
        (r"lh", "li"),
        (r"nh", "ni"),
        (r"h", ""),
        # 3-4. sibilants and velars (before the single-letter rules below see c, q, g)
        (r"(?:s|x)c(?=[ei])", "S"),
        (r"sS", "S"),
        (r"ss", "S"),
        (r"qu(?=[ei])", "K"),
        (r"qu", "Ku"),
        (r"gu(?=[ei])", "G"),
        (r"c(?=[eiy])", "S"),
        (r"[cqk]", "K"),
        (r"g(?=[eiy])", "j"),
        # 5. x
        (r"x$", "Ks"),
        (r"^ex(?=[aeiou])", "ez"),
        (r"x(?=[^aeiou])", "S"),
        # 3. voicing of a lone s between vowels, final z
        (r"(?<=[aeiou])s(?=[aeiou])", "z"),
        (r"z$", "S"),
        # 6. assorted consonants
        (r"w", "v"),
        (r"ay$", "ei"),
        (r"y", "i"),
        (r"(?<=[aeiou])l(?=[^aeiou]|$)", "u"),
        (r"(?<=[aeiou])m(?=[^aeiou]|$)", "n"),
        # 7. final vowels and the epenthetic i
        (r"e(s?)$", r"i\1"),
        (r"o(s?)$", r"u\1"),
        (r"([bdKptgG])$", r"\1i"),
    )
)
_REPEATS = re.compile(r"(.)\1+")


def _fold(word: str) -> str:
    """Lower case, `ç` as a fixed /s/, accents removed, only a-z (and the S marker) kept."""
    lowered = word.lower().replace("ç", "S")
    decomposed = unicodedata.normalize("NFD", lowered)
    return "".join(ch for ch in decomposed if "a" <= ch <= "z" or ch == "S")


@lru_cache(maxsize=8192)
def phonetic_key(word: str) -> str:
    """The pt-BR phonetic key of `word` (see the module docstring for the rules)."""
    key = _fold(word)
    for pattern, replacement in _ORDERED_RULES:
        key = pattern.sub(replacement, key)
    return _REPEATS.sub(r"\1", key.lower())


__all__ = ["phonetic_key"]
