"""Scripted synthesizers for the in-call TTS tests: known audio, chosen timing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np


def tone(seconds: float, rate: int, hz: float = 440.0) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 12000).astype("<i2").tobytes()


@dataclass
class ToneSynthesizer:
    """Says every text as `seconds` of a tone at `rate`, in `chunks` pieces `delay_s` apart
    (a worker producing clause after clause); `fail_after` chunks then raises."""

    seconds: float = 0.5
    rate: int = 22050
    chunks: int = 3
    delay_s: float = 0.0
    fail_after: int | None = None
    texts: list[str] = field(default_factory=list)

    async def stream(
        self, text: str, voice: str | None, speed: float
    ) -> AsyncIterator[tuple[bytes, int]]:
        self.texts.append(text)
        pcm = tone(self.seconds, self.rate)
        step = -(-len(pcm) // self.chunks) // 2 * 2
        for index, offset in enumerate(range(0, len(pcm), step)):
            if self.fail_after is not None and index >= self.fail_after:
                raise RuntimeError("the TTS worker died")
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield pcm[offset : offset + step], self.rate


async def until(
    predicate: Callable[[], bool], within_s: float = 10.0, step_s: float = 0.01
) -> None:
    """Poll `predicate` (a state outside asyncio's reach, like datagrams received)."""
    for _ in range(round(within_s / step_s)):
        if predicate():
            return
        await asyncio.sleep(step_s)
    raise TimeoutError(f"condition not met within {within_s} s")
