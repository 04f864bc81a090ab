"""A call's speculative finals: decodes started before the end of speech was confirmed.

`CallCore` emits `SpeculateFinal` once the silence that may end speech has lasted
`speech_pad_ms` (the span is then exact); the transcriber starts the decode here, beside its
queue. They are kept per utterance: the next utterance may speculate before this one's final is
read from the queue. `take` hands over the decode of exactly a segment's span, or None.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mediaserver.audio.pcm import Pcm16
from mediaserver.engines.base import Hypothesis
from mediaserver.engines.errors import EngineOverloadedError
from mediaserver.session.call_core import FinishSegment, SpeculateFinal


class Speculations:
    def __init__(self, decode: Callable[[Pcm16], Awaitable[Hypothesis]]) -> None:
        self._decode = decode
        self._tasks: dict[int, tuple[int, asyncio.Task[Hypothesis]]] = {}  # utterance -> (end, _)
        self.used = 0

    def start(self, command: SpeculateFinal) -> None:
        self.drop(command.utterance)
        task = asyncio.ensure_future(self._decode(command.pcm))
        task.add_done_callback(_retrieve)
        self._tasks[command.utterance] = (command.end, task)

    def span_end(self, utterance: int) -> int | None:
        speculation = self._tasks.get(utterance)
        return None if speculation is None else speculation[0]

    def drop(self, utterance: int) -> None:
        speculation = self._tasks.pop(utterance, None)
        if speculation is not None:
            speculation[1].cancel()

    def close(self) -> None:
        for utterance in list(self._tasks):
            self.drop(utterance)

    async def take(self, command: FinishSegment) -> Hypothesis | None:
        """The speculative decode of exactly this segment's span, if there is one; otherwise
        None (the final is decoded the usual way). An engine failure of it is raised, as on the
        usual path (an error event, then the pending segments transcribed again)."""
        segment = command.segment
        for utterance in [u for u in self._tasks if u < segment.start_sample]:
            self.drop(utterance)  # older speech, committed without it
        speculation = self._tasks.pop(segment.start_sample, None)
        if speculation is None:
            return None
        end, task = speculation
        if end != segment.end_sample or command.fresh:
            task.cancel()
            return None
        try:
            hypothesis = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the transcriber is being stopped
            return None  # only the speculation was cancelled: decode the usual way
        except EngineOverloadedError:
            return None  # refused while speculative: the final asks again, on its own
        self.used += 1
        return hypothesis


def _retrieve(task: asyncio.Task[Hypothesis]) -> None:
    # A speculation nobody awaited (dropped, or its call closed): its error is not news.
    if not task.cancelled():
        task.exception()
