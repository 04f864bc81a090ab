"""`Speaker`: a call's voice. Text in, queued utterances played one after another into the
call's `AudioSink`, the call's ears muted meanwhile (mute-on-speak).

    speaker.speak("Seu saldo é ...", voice=None) -> Queued(id, queued)
    speaker.cancel() -> how many utterances were stopped or dropped

One task per call plays the queue in order. For each utterance: mute the call, emit
`tts.speaking_start`, stream the synthesizer's chunks, resample them to the sink's rate and
write them (the sink paces them on 20 ms deadlines), wait until the sink has sent the last
frame, emit `tts.speaking_end`. The call is unmuted in a `finally`, whatever ends the
utterance: its end, `cancel`, a synthesis error (a recoverable `error` event), the call
closing. `cancel` stops the sink synchronously (nothing more leaves after the frame being sent)
and clears the queue; the cancelled utterance ends with `tts.speaking_end` `cancelled: true`.

Barge-in (call option `barge_in`): while muted, the caller's audio still reaches a VAD of its
own (`BargeIn`), never the call's VAD or STT; speech longer than `barge_in_min_ms` cancels the
playback, which unmutes the call. It needs the caller's audio on a channel of its own: true for
RTP and AudioSocket (the PBX sends the caller's leg), not for a browser or an app whose
microphone hears the loudspeaker without echo cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import structlog

from mediaserver.audio.resample import Resampler
from mediaserver.calls.audio_sink import AudioSink, NoAudioPath, SinkFactory
from mediaserver.domain.speakable import speakable
from mediaserver.engines.base import ModelLoadError, ModelNotFoundError
from mediaserver.engines.tts.base import check_speed

if TYPE_CHECKING:
    from mediaserver.engines.supervision.supervisor import Supervisor
    from mediaserver.engines.tts.service import TtsService

log = structlog.get_logger("mediaserver.calls.speaker")

MAX_TEXT_CHARS: Final = 4096
MAX_QUEUED: Final = 32
_ids = itertools.count(1)


class Synthesizer(Protocol):
    def stream(
        self, text: str, voice: str | None, speed: float
    ) -> AsyncIterator[tuple[bytes, int]]:
        """(PCM16 little-endian mono, sample rate) chunks of `text` spoken."""


class ServiceSynthesizer:
    """Synthesis through the server's TTS service: the default TTS model and voice, pt-BR
    normalization, the audio cache (a repeated prompt costs no worker), the worker freed as
    soon as the utterance is cancelled."""

    def __init__(self, tts: TtsService) -> None:
        self._tts = tts

    async def stream(
        self, text: str, voice: str | None, speed: float
    ) -> AsyncIterator[tuple[bytes, int]]:
        stream = await self._tts.open(text, voice=voice, speed=speed)
        try:
            async for pcm in stream:
                yield pcm.astype("<i2", copy=False).tobytes(), stream.sample_rate
        finally:
            await stream.aclose()


class SupervisorSynthesizer:
    """Synthesis straight through the engine supervisor, text made speakable first (no cache,
    no voice check: for tools and tests that run a worker without the TTS service)."""

    def __init__(self, supervisor: Supervisor, model: str, default_voice: str = "") -> None:
        self._supervisor = supervisor
        self._model = model
        self._voice = default_voice

    async def stream(
        self, text: str, voice: str | None, speed: float
    ) -> AsyncIterator[tuple[bytes, int]]:
        said = speakable(text)
        chunks = self._supervisor.synthesize(self._model, said, voice or self._voice, speed=speed)
        async for chunk in chunks:
            yield chunk


class SpeakError(ValueError):
    """A speak request that cannot be queued (empty or too long text, a full queue)."""


@dataclass(frozen=True, slots=True)
class Queued:
    id: str
    queued: int  # utterances waiting or playing, this one included


@dataclass(slots=True)
class _Utterance:
    id: str
    text: str
    voice: str | None
    speed: float
    started: bool = False  # `tts.speaking_start` was emitted


class SpeakerCall(Protocol):
    """What the Speaker needs of its `Call`."""

    id: str
    muted: bool

    def emit(self, kind: str, **fields: Any) -> None: ...


class Speaker:
    def __init__(
        self,
        call: SpeakerCall,
        synthesizer: Synthesizer,
        sink: SinkFactory,
        *,
        on_mute: Callable[[bool], None] | None = None,
    ) -> None:
        self._call = call
        self._synth = synthesizer
        self._sink_factory = sink
        self._sink: AudioSink | None = None
        self._on_mute = on_mute  # the barge-in detector starts/stops listening
        self._queue: deque[_Utterance] = deque()
        self._current: _Utterance | None = None
        self._playing: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._cancel_reason = "requested"
        self.spoken = 0
        self.cancelled = 0

    @property
    def speaking(self) -> bool:
        return self._current is not None

    @property
    def queued(self) -> int:
        return len(self._queue) + (self._current is not None)

    def sink(self) -> AudioSink:
        """The call's audio way out (made on first use); raises `NoAudioPath`."""
        if self._sink is None:
            self._sink = self._sink_factory()
        return self._sink

    def speak(self, text: str, voice: str | None = None, speed: float = 1.0) -> Queued:
        """Queue `text`; raises `SpeakError` (bad request) or `NoAudioPath` (nowhere to play)."""
        if self._closed:
            raise NoAudioPath("the call is closed")
        if not isinstance(text, str) or not text.strip():
            raise SpeakError("text is empty: there is nothing to say")
        if len(text) > MAX_TEXT_CHARS:
            raise SpeakError(f"text is longer than {MAX_TEXT_CHARS} characters")
        if voice is not None and (not isinstance(voice, str) or len(voice) > 64):
            raise SpeakError("voice must be a voice name (a string of at most 64 characters)")
        try:
            speed = check_speed(speed)
        except ValueError as exc:
            raise SpeakError(str(exc)) from None
        if self.queued >= MAX_QUEUED:
            raise SpeakError(f"{MAX_QUEUED} utterances are already queued; cancel or wait")
        self.sink()
        utterance = _Utterance(f"utt_{next(_ids)}", text.strip(), voice, speed)
        self._queue.append(utterance)
        self._wakeup.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"speaker-{self._call.id}")
            self._task.add_done_callback(self._ended)
        return Queued(utterance.id, self.queued)

    def cancel(self, reason: str = "requested") -> int:
        """Stop the utterance playing (within one frame) and drop the queued ones; `reason`
        ("requested", "barge_in") goes into the cancelled utterance's `tts.speaking_end`."""
        count = len(self._queue)
        self._queue.clear()
        if self._current is not None:
            count += 1
            self._cancel_reason = reason
            if self._sink is not None:
                self._sink.cancel()
            if self._playing is not None:
                self._playing.cancel()
        return count

    def close(self) -> None:
        """The call is over: stop everything (no events follow `session.closed`)."""
        self._closed = True
        self.cancel()
        if self._task is not None:
            self._task.cancel()
        self._unmute()

    async def aclose(self) -> None:
        self.close()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the task ------------------------------------------------------------------------

    def _ended(self, task: asyncio.Task[None]) -> None:
        # The loop ends only by `close`; anything else is our bug: the call stops speaking.
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("speaker.failed", call_id=self._call.id, error=type(exc).__name__)
            self._closed = True
            self._unmute()

    async def _run(self) -> None:
        while not self._closed:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            utterance = self._queue.popleft()
            self._current = utterance
            self._playing = asyncio.create_task(self._play(utterance))
            try:
                await asyncio.shield(self._playing)
                cancelled = False
            except asyncio.CancelledError:
                if self._closed:
                    raise
                cancelled = True
            except Exception as exc:  # synthesis failed: tell the caller, go on with the queue
                cancelled = False
                self._error(exc)
            finally:
                self._current, self._playing = None, None
                self._unmute()
            if not utterance.started:
                continue  # cancelled or failed before its first audio: no start, so no end
            if cancelled:
                self.cancelled += 1
                self._call.emit(
                    "tts.speaking_end",
                    utterance_id=utterance.id,
                    cancelled=True,
                    reason=self._cancel_reason,
                )
            else:
                self.spoken += 1
                self._call.emit("tts.speaking_end", utterance_id=utterance.id, cancelled=False)

    async def _play(self, utterance: _Utterance) -> None:
        sink = self.sink()
        chunks = self._synth.stream(utterance.text, utterance.voice, utterance.speed)
        resampler: Resampler[np.int16] | None = None
        try:
            # The request's own faults (unknown voice, nothing to say) surface before the first
            # chunk: they are an `error` alone, with no speaking_start and nothing muted.
            first = await anext(aiter(chunks), None)
            if first is None:
                return
            self._mute()
            utterance.started = True
            self._call.emit("tts.speaking_start", utterance_id=utterance.id)
            pcm, rate = first
            while True:
                if resampler is None or resampler.in_rate != rate:
                    resampler = Resampler(rate, sink.sample_rate)
                out = resampler.process(np.frombuffer(pcm, "<i2").astype(np.int16))
                if len(out):
                    sink.write(out.astype("<i2").tobytes())
                following = await anext(aiter(chunks), None)
                if following is None:
                    break
                pcm, rate = following
            tail = resampler.flush()
            if len(tail):
                sink.write(tail.astype("<i2").tobytes())
            sink.end()
            await sink.drained()
        except BaseException:
            sink.cancel()
            raise
        finally:
            closer = getattr(chunks, "aclose", None)
            if closer is not None:
                await closer()  # frees the worker at once when cancelled mid-utterance

    def _mute(self) -> None:
        self._call.muted = True
        if self._on_mute is not None:
            self._on_mute(True)

    def _unmute(self) -> None:
        if self._call.muted:
            self._call.muted = False
            if self._on_mute is not None:
                self._on_mute(False)

    def _error(self, exc: Exception) -> None:
        log.warning("speaker.synthesis_failed", call_id=self._call.id, error=type(exc).__name__)
        # Our messages for these name the fix (a voice to use, `mediaserver pull NAME`).
        if isinstance(exc, ModelNotFoundError):
            code, message = "model_not_found", str(exc)
        elif isinstance(exc, ModelLoadError):
            code, message = "model_load_failed", str(exc)
        elif isinstance(exc, ValueError):
            code, message = "invalid_speech", str(exc)
        else:
            code, message = "tts_failed", "speech synthesis failed"
        self._call.emit("error", code=code, message=message, recoverable=True)


__all__ = [
    "NoAudioPath",
    "Queued",
    "ServiceSynthesizer",
    "SpeakError",
    "Speaker",
    "SupervisorSynthesizer",
]
