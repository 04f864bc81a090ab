"""The engine side of one call: turns the core's engine commands into partials and finals.

One task per call works through the commands in order (`StreamAudio`, `FinishSegment`; see
`mediaserver.session.call_core`), so finals come out in segment order and are acked in that order.
Consecutive chunks of one utterance still queued when the engine gets to them are joined, so a
slow engine is given fewer, larger chunks instead of falling further behind.

Failures: a model that is not installed (removed after the call was created: creation refuses
a missing one) gives one `error` (`model_not_found`, naming `mediaserver pull NAME`), as does a
model that fails to load, and the call runs on without transcripts (segments are acked at once,
so closing is not held up). An engine failure gives a recoverable `error`, and the segments
still awaiting their final are transcribed again, whole, from the ring buffer (the session
re-issues them with their ids: nothing duplicated, nothing lost); a segment that fails a second
time is given up with an unrecoverable `error` naming it. A final the engine cannot serve in
time (refused by the worker, or still undecoded `MAX_FINAL_AGE_S` after its segment was
committed) gives a recoverable `overloaded` error naming the segment: bounded lag, not minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

import numpy as np

from mediaserver.audio.pcm import Pcm16
from mediaserver.calls.postprocess import Postprocess
from mediaserver.calls.recognizers import Recognizers, RecognizerStream, SpeechRecognizer
from mediaserver.calls.speculation import Speculations
from mediaserver.engines.base import (
    Audio,
    Hypothesis,
    ModelLoadError,
    ModelNotFoundError,
    TranscribeOptions,
)
from mediaserver.engines.errors import EngineError, EngineOverloadedError
from mediaserver.session import call_events
from mediaserver.session.call_core import (
    DropSpeculation,
    EngineCommand,
    FinishSegment,
    SpeculateFinal,
    Speculation,
    StreamAudio,
)
from mediaserver.session.call_events import EventDict
from mediaserver.session.call_options import CallOptions
from mediaserver.session.events import sample_to_ms
from mediaserver.session.transcripts import PartialPolicy, confidence, partials_for

_SCALE: Final = np.float32(1.0 / 32768.0)
MAX_FINAL_AGE_S: Final = 20.0


class Publish(Protocol):
    def __call__(self, item: EventDict, *, sticky: bool = False) -> None: ...


def to_audio(pcm: Pcm16) -> Audio:
    return pcm.astype(np.float32) * _SCALE


class CallTranscriber:
    def __init__(
        self,
        call_id: str,
        options: CallOptions,
        recognizers: Recognizers | None,
        postprocess: Postprocess,
        *,
        publish: Publish,
        ack: Callable[[int], None],
        recover: Callable[[], list[FinishSegment]],
        crashed: Callable[[BaseException], None],
    ) -> None:
        self.call_id = call_id
        self.options = options
        self._recognizers = recognizers
        self._postprocess = postprocess
        self._publish = publish
        self._ack = ack
        self._recover = recover
        self._crashed = crashed
        self._queue: deque[EngineCommand] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._recognizer: SpeechRecognizer | None = None
        self._stream: RecognizerStream | None = None
        self._utterance: int | None = None
        self._policy: PartialPolicy | None = None
        self._failed: set[int] = set()
        # (utterance, end, decode): a final decoded before the speech end was confirmed.
        self._speculations = Speculations(self._decode_final)
        self._accepting: asyncio.Task[Hypothesis] | None = None  # the partial in flight
        self._committed: dict[int, float] = {}  # segment id -> when its FinishSegment came
        self.finals = 0
        self.partials = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"transcriber-{self.call_id}")
        self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        # The loop only ends by cancellation; anything else is our bug and ends the call.
        if not task.cancelled() and task.exception() is not None:
            self._crashed(task.exception() or RuntimeError("transcriber ended"))

    def submit(self, command: EngineCommand | Speculation) -> None:
        """Queue a command; never blocks. A speculation starts (or stops) at once, beside
        the queue: it must not wait behind the partial the queue may be waiting for."""
        if isinstance(command, SpeculateFinal):
            if self._recognizer is not None and self._task is not None:
                self._speculations.start(command)
            return
        if isinstance(command, DropSpeculation):
            self._speculations.drop(command.utterance)
            return
        if (
            isinstance(command, FinishSegment)
            and self._accepting is not None
            and self._speculations.span_end(command.segment.start_sample)
            == command.segment.end_sample
        ):
            self._accepting.cancel()  # its final is decoded already: the partial is moot
        if isinstance(command, FinishSegment):
            self._committed[command.segment.segment_id] = asyncio.get_running_loop().time()
        self._queue.append(command)
        self._wakeup.set()

    async def aclose(self) -> None:
        self._speculations.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # A task that failed was already reported by `_done`.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- the task ----------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._serve()
        finally:
            # In this task, even when cancelled: an engine stream is left where it was entered.
            await self._drop_stream()

    async def _serve(self) -> None:
        self._recognizer = await self._resolve()
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            command = self._next()
            if self._recognizer is None:
                if isinstance(command, FinishSegment):
                    self._ack(command.segment.segment_id)
                continue
            try:
                await self._handle(command)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the engine's failure must not end the call
                await self._failed_command(command, exc)

    async def _resolve(self) -> SpeechRecognizer | None:
        model = self.options.model
        if self._recognizers is None or model is None:
            return None
        try:
            return await self._recognizers.get(model)
        except ModelNotFoundError as exc:
            code, message = "model_not_found", str(exc)
        except (ModelLoadError, EngineError, ValueError, OSError) as exc:
            code, message = "model_load_failed", str(exc)
        # Sticky: whoever subscribes later must still learn why no transcript will come.
        error = call_events.error(self.call_id, code, message, recoverable=False, model=model)
        self._publish(error, sticky=True)
        return None

    def _next(self) -> EngineCommand:
        """The next command; consecutive chunks of one utterance are joined into one."""
        command = self._queue.popleft()
        if not isinstance(command, StreamAudio):
            return command
        parts = [command.pcm]
        end = command.end
        while self._queue:
            head = self._queue[0]
            if not (
                isinstance(head, StreamAudio)
                and head.utterance == command.utterance
                and head.start == end
            ):
                break
            self._queue.popleft()
            parts.append(head.pcm)
            end = head.end
        due = self._queue[0] if self._queue else None
        if (
            isinstance(due, FinishSegment)
            and not due.fresh
            and due.segment.start_sample == command.utterance
            and (due.start == end or len(due.pcm) == 0)
        ):
            # Its final is already due: a partial now would be stale before it is published.
            self._queue.popleft()
            if len(due.pcm):
                parts.append(due.pcm)
            return FinishSegment(due.segment, command.start, np.concatenate(parts), False)
        if len(parts) == 1:
            return command
        return StreamAudio(
            command.segment_id, command.utterance, command.start, np.concatenate(parts)
        )

    async def _handle(self, command: EngineCommand) -> None:
        if isinstance(command, StreamAudio):
            stream, policy = await self._stream_for(command.utterance, fresh=False)
            # Its own task, so that a final decoded ahead (see `submit`) need not wait for it.
            accept = asyncio.create_task(stream.accept(to_audio(command.pcm)))
            self._accepting = accept
            try:
                await asyncio.wait((accept,))
            finally:
                self._accepting = None
                accept.cancel()  # a no-op unless this task is being cancelled
            if accept.cancelled():  # the stream is mid-answer: close it, keep its policy
                self._stream = None
                with contextlib.suppress(Exception):
                    await stream.aclose()
                return
            hypothesis = accept.result()
            text = policy.partial(hypothesis)
            if text:
                self.partials += 1
                self._publish(
                    call_events.partial(
                        self.call_id,
                        command.segment_id,
                        text,
                        sample_to_ms(command.utterance),
                        sample_to_ms(command.end),
                    )
                )
            return
        segment = command.segment
        speculated = await self._speculations.take(command)
        committed = self._committed.pop(segment.segment_id, None)
        if speculated is None and committed is not None:
            age = asyncio.get_running_loop().time() - committed
            if age > MAX_FINAL_AGE_S:  # decoding it now would only push the next ones later
                raise EngineOverloadedError(f"the final waited {age:.0f} s for the engine")
        if speculated is not None:
            assert self._recognizer is not None
            policy = partials_for(self._recognizer.architecture)
            await self._drop_stream()  # its partials are no longer wanted
            await self._publish_final(command, policy.final(speculated), speculated)
            return
        stream, policy = await self._stream_for(segment.start_sample, fresh=command.fresh)
        # The tail goes with the finish: a partial decode of it would only delay the final.
        hypothesis = await stream.finish(to_audio(command.pcm) if len(command.pcm) else None)
        self._stream, self._utterance, self._policy = None, None, None
        await self._publish_final(command, policy.final(hypothesis), hypothesis)

    async def _decode_final(self, pcm: Pcm16) -> Hypothesis:
        """A speculative final: on a stream of its own, its audio given with `finish`."""
        recognizer = self._recognizer
        assert recognizer is not None
        stream = await recognizer.open_stream(self._transcribe_options(recognizer))
        try:
            return await stream.finish(to_audio(pcm))
        except BaseException:
            await stream.aclose()
            raise

    async def _publish_final(self, command: FinishSegment, raw: str, hyp: Hypothesis) -> None:
        segment = command.segment
        result = await self._postprocess(raw, self.options)
        self.finals += 1
        self._publish(
            call_events.final(
                self.call_id,
                segment_id=segment.segment_id,
                text=result.text,
                raw_text=result.raw_text,
                entities=result.entities,
                start_ms=segment.start_ms,
                end_ms=segment.end_ms,
                language=self.options.language or hyp.language,
                confidence=confidence(hyp),
            )
        )
        self._ack(segment.segment_id)

    async def _stream_for(
        self, utterance: int, *, fresh: bool
    ) -> tuple[RecognizerStream, PartialPolicy]:
        if fresh or self._utterance != utterance or self._stream is None:
            await self._drop_stream()
            recognizer = self._recognizer
            assert recognizer is not None
            self._stream = await recognizer.open_stream(self._transcribe_options(recognizer))
            self._utterance = utterance
            self._policy = partials_for(recognizer.architecture)
        assert self._policy is not None
        return self._stream, self._policy

    def _transcribe_options(self, recognizer: SpeechRecognizer) -> TranscribeOptions:
        hot_words = self.options.hot_words if recognizer.capabilities.hot_words else ()
        return TranscribeOptions(language=self.options.language, hot_words=hot_words)

    async def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._utterance, self._policy = None, None
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.aclose()

    async def _failed_command(self, command: EngineCommand, exc: Exception) -> None:
        await self._drop_stream()
        if isinstance(exc, EngineOverloadedError):
            # Only finals are refused (partials are skipped): say so, never queue minutes of lag.
            if isinstance(command, FinishSegment):
                segment_id = command.segment.segment_id
                message = f"the speech engine is overloaded; segment {segment_id} has no final"
                self._error("overloaded", message, recoverable=True, segment_id=segment_id)
                self._ack(segment_id)
            return
        name = type(exc).__name__
        if isinstance(command, FinishSegment) and command.segment.segment_id in self._failed:
            segment_id = command.segment.segment_id
            self._error(
                "engine_error",
                f"segment {segment_id} could not be transcribed ({name}); it is skipped",
                recoverable=False,
                segment_id=segment_id,
            )
            self._ack(segment_id)
            return
        self._error(
            "engine_error",
            f"the speech engine failed ({name}); pending segments are transcribed again",
            recoverable=True,
        )
        # Everything queued is replaced by the session's own account of what is pending.
        self._queue.clear()
        for retry in self._recover():
            self._failed.add(retry.segment.segment_id)
            self._queue.append(retry)

    def _error(self, code: str, message: str, *, recoverable: bool, **fields: object) -> None:
        self._publish(
            call_events.error(self.call_id, code, message, recoverable=recoverable, **fields)
        )

    @property
    def speculations_used(self) -> int:
        """Finals that were the speculative decode."""
        return self._speculations.used
