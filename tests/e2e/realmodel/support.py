"""Real speech through the live server with the real faster-whisper base model.

Asterisk's prompts (real human telephony speech, 8 kHz, with transcripts) are laid out on one
call's timeline separated by silence; the last one ends right before the hangup, so its final
is still to be computed when the call closes. `check_transcripts` then matches every final to
the prompt whose audio it covers and measures word errors against the transcripts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tests.real_speech import Prompt, word_errors, words

RATE: Final = 8000
# Single sentences without inner pauses (one VAD segment each), different edge words (so a
# word repeated across a boundary is a duplicate, not the text).
CALL_PROMPTS: Final = ("dir-nomatch", "vm-msgsaved", "feature-not-avail-line", "confbridge-removed")
# Short enough together (< 10 s) for a WS burst the server's backlog admits whole.
BURST_PROMPTS: Final = ("vm-msgsaved", "conf-extended", "confbridge-removed")
LEAD_S, GAP_S = 0.6, 1.0
TAIL_S: Final = 0.1  # hangup 100 ms after the last word: the VAD has not ended that speech


@dataclass
class Call:
    """One call's audio: the prompts on a timeline, and where each lies (ms)."""

    prompts: list[Prompt]
    pcm: npt.NDArray[np.int16]
    spans: list[tuple[float, float]] = field(default_factory=list)


def lay_out(prompts: list[Prompt]) -> Call:
    parts: list[npt.NDArray[np.int16]] = [np.zeros(int(LEAD_S * RATE), np.int16)]
    spans: list[tuple[float, float]] = []
    for index, prompt in enumerate(prompts):
        start = sum(len(p) for p in parts) * 1000 / RATE
        audio = prompt.pcm()
        parts.append(audio)
        spans.append((start, start + len(audio) * 1000 / RATE))
        gap = TAIL_S if index == len(prompts) - 1 else GAP_S
        parts.append(np.zeros(int(gap * RATE), np.int16))
    pcm = np.concatenate(parts)
    pcm = np.concatenate([pcm, np.zeros(-len(pcm) % 160, np.int16)])  # whole 20 ms frames
    return Call(prompts, pcm, spans)


@dataclass(frozen=True)
class Outcome:
    errors: int
    reference_words: int
    finals_per_prompt: list[int]

    @property
    def wer(self) -> float:
        return self.errors / self.reference_words


def check_transcripts(call: Call, events: list[dict[str, Any]]) -> Outcome:
    """Every prompt gets exactly one final, none is lost or duplicated; word errors summed."""
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "session.closed", kinds[-5:]
    lost = [e for e in events if e["type"] == "error"]
    assert lost == [], lost  # no final_lost, no engine error, no overrun
    assert "unflushed_segments" not in events[-1]
    finals = [e for e in events if e["type"] == "transcript.final"]
    ids = [f["segment_id"] for f in finals]
    assert ids == list(range(1, len(finals) + 1)), ids  # each segment once, in order
    owners = [_owner(call, f) for f in finals]
    per_prompt = [owners.count(i) for i in range(len(call.prompts))]
    texts = [f["raw_text"] for f in finals]
    assert per_prompt == [1] * len(call.prompts), (per_prompt, owners, texts)
    for before, after in itertools.pairwise(texts):
        # Each prompt ends and starts with a different word: one seen on both sides of a
        # segment boundary was transcribed twice.
        if words(before) and words(after):
            assert words(before)[-1] != words(after)[0], (before, after)
    errors = reference = 0
    for prompt, text in zip(call.prompts, texts, strict=True):
        e, n = word_errors(prompt.text, text)
        errors, reference = errors + e, reference + n
    return Outcome(errors, reference, per_prompt)


def _owner(call: Call, final: dict[str, Any]) -> int:
    """The prompt the final's span overlaps most; -1 for a final over silence."""
    start, end = final["start_ms"], final["end_ms"]
    overlaps = [min(end, b) - max(start, a) for a, b in call.spans]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] > 0 else -1
