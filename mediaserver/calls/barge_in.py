"""Barge-in: while a call speaks, its muted input still reaches a VAD of its own.

The call's own VAD, ring buffer and STT see nothing while muted (mute-on-speak). With the
`barge_in` call option, the muted audio goes here instead: resampled to 16 kHz and run through
a separate `VadStream` (batched by the server's `VadTicker` with every call's VAD) whose
minimum speech duration is `barge_in_min_ms`. Its first `SpeechStart` means the caller has been
talking over the server for that long: `on_speech` runs (the Speaker cancels its playback,
which unmutes the call and gives the audio back to the normal path).

Each playback starts with a fresh stream, so nothing heard during one utterance counts
towards the next.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import numpy as np

from mediaserver.audio.events import PIPELINE_RATE, SpeechStart
from mediaserver.audio.pcm import Pcm16
from mediaserver.audio.resample import Resampler
from mediaserver.audio.vad import VadStream
from mediaserver.config import VadSettings


class Marker(Protocol):
    def mark(self, client: BargeIn) -> None: ...

    def forget(self, client: BargeIn) -> None: ...


class BargeIn:
    """A VAD client of the ticker that listens only while `listening`."""

    def __init__(
        self,
        vad: VadSettings,
        min_speech_ms: int,
        ticker: Callable[[], Marker],
        on_speech: Callable[[], None],
    ) -> None:
        self._settings = dataclasses.replace(vad, min_speech_ms=min_speech_ms)
        self._ticker = ticker
        self._on_speech = on_speech
        self._stream = VadStream(self._settings)
        self._resampler: Resampler[np.int16] | None = None
        self.listening = False
        self.detections = 0

    def listen(self, on: bool) -> None:
        """Start (fresh) or stop listening; called as the call is muted and unmuted."""
        if on and not self.listening:
            self._stream = VadStream(self._settings)
            self._resampler = None
        elif not on and self.listening:
            self._ticker().forget(self)
        self.listening = on

    def feed(self, pcm: Pcm16, sample_rate: int) -> None:
        """Muted input of the call (int16 at `sample_rate`)."""
        if not self.listening:
            return
        if self._resampler is None or self._resampler.in_rate != sample_rate:
            self._resampler = Resampler(sample_rate, PIPELINE_RATE)
        pcm16k = self._resampler.process(pcm)
        if len(pcm16k):
            self._stream.feed(pcm16k)
            self._ticker().mark(self)

    # -- the ticker's VadClient ----------------------------------------------------------

    @property
    def vad_stream(self) -> VadStream:
        return self._stream

    def vad_done(self, now: float) -> None:
        events = self._stream.events()
        if self.listening and any(isinstance(e, SpeechStart) for e in events):
            self.detections += 1
            self.listening = False
            self._on_speech()

    def vad_failed(self, exc: Exception) -> None:
        # Only barge-in is lost: the playback goes on to its end.
        self.listening = False
