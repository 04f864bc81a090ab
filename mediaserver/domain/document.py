"""One transcript being post-processed: its tokens, number elements and the edits made so far.

Stages never rewrite the text in place. Each one claims token ranges and records an `Edit`
(a character span of the input and what replaces it); `render` applies them all at the end,
so offsets stay those of the input until the output is assembled.
"""

from __future__ import annotations

from dataclasses import dataclass

from mediaserver.domain.lexicon import Token, tokenize
from mediaserver.domain.numbers import Element, Num, parse_elements


@dataclass(frozen=True, slots=True)
class Edit:
    start: int  # character span of the input text that is replaced
    end: int
    text: str
    entity: str | None = None  # the entity type when this edit formats an entity
    value: str = ""
    valid: bool = True
    rule: str = ""  # which rule made it, for `--explain`; the entity type when empty
    redacted: bool = False  # the text is masked: an explanation must not show the input either


@dataclass(frozen=True, slots=True)
class Entity:
    """A formatted entity: `start`/`end` are offsets of `text` in the output text."""

    type: str
    text: str
    value: str
    valid: bool
    start: int
    end: int

    def to_dict(self) -> dict[str, object]:
        return {
            "type": self.type,
            "text": self.text,
            "value": self.value,
            "valid": self.valid,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One change made to a transcript, as `--explain` shows it: the rule that made it, the
    span of the input it replaced and what it wrote; `start`/`end` locate `after` in the output."""

    rule: str
    before: str
    after: str
    start: int
    end: int

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "before": self.before,
            "after": self.after,
            "start": self.start,
            "end": self.end,
        }


class Document:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[Token] = tokenize(text)
        self.elements: list[Element] = parse_elements(self.tokens)
        # Token range [first, stop) of every element, in the same order.
        self.spans: list[tuple[int, int]] = []
        index = 0
        for el in self.elements:
            if isinstance(el, Num):
                self.spans.append((el.first, el.stop))
                index = el.stop
            else:
                self.spans.append((index, index + 1))
                index += 1
        self._taken = [False] * len(self.tokens)
        self.edits: list[Edit] = []

    def is_free(self, first: int, stop: int) -> bool:
        return not any(self._taken[first:stop])

    def claim(self, first: int, stop: int, edit: Edit) -> None:
        for i in range(first, stop):
            self._taken[i] = True
        self.edits.append(edit)

    def claim_span(self, start: int, end: int, edit: Edit) -> bool:
        """Claim the tokens lying inside a character span; False if one is already claimed."""
        inside = [i for i, t in enumerate(self.tokens) if t.start >= start and t.end <= end]
        if not inside or not self.is_free(inside[0], inside[-1] + 1):
            return False
        self.claim(inside[0], inside[-1] + 1, edit)
        return True

    def element_free(self, e: int) -> bool:
        return self.is_free(*self.spans[e])

    def word(self, e: int) -> str:
        """The lower-cased word at element e, or "" when it is not a plain word."""
        if 0 <= e < len(self.elements):
            el = self.elements[e]
            if isinstance(el, Token) and el.kind == "word":
                return el.norm
        return ""

    def render(self, trace: list[Rewrite] | None = None) -> tuple[str, list[Entity]]:
        """Apply every edit; entity offsets are computed in the output text. With `trace`,
        every edit is also appended to it as a `Rewrite` (the normal path builds none)."""
        out: list[str] = []
        entities: list[Entity] = []
        pos = length = 0
        for edit in sorted(self.edits, key=lambda e: e.start):
            gap = self.text[pos : edit.start]
            out.append(gap)
            length += len(gap)
            if edit.entity is not None:
                end = length + len(edit.text)
                entities.append(Entity(edit.entity, edit.text, edit.value, edit.valid, length, end))
            if trace is not None:
                trace.append(self._rewrite(edit, length))
            out.append(edit.text)
            length += len(edit.text)
            pos = edit.end
        out.append(self.text[pos:])
        return "".join(out), entities

    def _rewrite(self, edit: Edit, at: int) -> Rewrite:
        before = self.text[edit.start : edit.end]
        if edit.redacted:
            before = "".join("*" if c.isalnum() else c for c in before)
        rule = edit.rule or edit.entity or "edit"
        return Rewrite(rule, before, edit.text, at, at + len(edit.text))
