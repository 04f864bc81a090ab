"""A recording CallManager/Call honouring the transport contract, for transport tests.

It records what the transport does (feed, dtmf, commit, close) and lets a test emit events to
subscribers. It is not a call core: no VAD, no session state beyond open/closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.manager import (
    Call,
    CallManager,
    CallRefused,
    Subscription,
    Transport,
    TransportInfo,
)
from mediaserver.calls.speaker import Speaker


class FakeSubscription(Subscription):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event
            if event["type"] == "session.closed":
                return

    def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(None)


class FakeCall(Call):
    def __init__(
        self,
        call_id: str,
        transport: Transport,
        options: Mapping[str, Any],
        transport_info: TransportInfo,
        on_close: Callable[[], None] | None,
        poke: Callable[[], None],
    ) -> None:
        self._poke = poke
        self.id = call_id
        self.transport = transport
        self.events_url = f"/v1/calls/{call_id}/events"
        self.options = dict(options)
        self.transport_info = transport_info
        self.on_close = on_close
        self.fed: list[tuple[bytes, int]] = []
        self.digits: list[str] = []
        self.commits = 0
        self.close_reasons: list[str] = []
        self.subscriptions: list[FakeSubscription] = []
        self.closed = asyncio.Event()
        # Set to make `close` wait, as a real flush of pending finals would.
        self.flush_delay_s = 0.0
        self.final_on_close: dict[str, Any] | None = None

    @property
    def state(self) -> str:
        return "closed" if self.closed.is_set() else ("silence" if self.fed else "init")

    @property
    def fed_bytes(self) -> bytes:
        return b"".join(pcm for pcm, _ in self.fed)

    def feed(self, pcm: bytes, sample_rate: int) -> None:
        self.fed.append((pcm, sample_rate))
        self._poke()

    @property
    def speaker(self) -> Speaker:
        raise NoAudioPath("a fake call cannot speak")

    def dtmf(self, digit: str) -> None:
        self.digits.append(digit)
        self._poke()
        self.emit({"type": "dtmf", "call_id": self.id, "digit": digit})

    def commit(self) -> None:
        self.commits += 1
        self._poke()

    def emit(self, event: dict[str, Any] | str, **fields: Any) -> None:  # type: ignore[override]
        """A whole event, or the real `Call.emit(kind, **fields)` a transport calls."""
        if isinstance(event, str):
            event = {"type": event, "call_id": self.id, **fields}
        for subscription in self.subscriptions:
            if not subscription.closed:
                subscription.queue.put_nowait(event)

    async def close(self, reason: str = "requested") -> None:
        self.close_reasons.append(reason)
        if len(self.close_reasons) > 1:
            await self.closed.wait()
            return
        if self.flush_delay_s:
            await asyncio.sleep(self.flush_delay_s)
        if self.final_on_close is not None:
            self.emit(self.final_on_close)
        self.emit({"type": "session.closed", "call_id": self.id, "reason": reason})
        self.closed.set()
        self._poke()
        if self.on_close is not None:
            self.on_close()

    def subscribe(self) -> FakeSubscription:
        # Like the real hub: every subscription starts with the call's session.created.
        subscription = FakeSubscription()
        subscription.queue.put_nowait(
            {"type": "session.created", "call_id": self.id, "options": self.options}
        )
        self.subscriptions.append(subscription)
        return subscription

    def info(self, *, detail: bool = False) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "codec": self.transport_info.codec}

    async def wait_closed(self) -> None:
        await self.closed.wait()


class FakeCallManager(CallManager):
    def __init__(self) -> None:
        self.created: list[FakeCall] = []
        self.refuse: CallRefused | None = None
        self.reject: ValueError | None = None
        self._activity = asyncio.Event()

    def poke(self) -> None:
        """Something was recorded: wake `wait_until`."""
        self._activity.set()
        self._activity = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(5.0):
            while not predicate():
                await self._activity.wait()

    async def live(self, call_id: str) -> FakeCall:
        """The live call with this id, once the transport has created it."""
        await self.wait_until(lambda: any(c.id == call_id for c in self.calls()))
        return self.get(call_id)

    def create(
        self,
        transport: Transport,
        options: Mapping[str, Any],
        info: TransportInfo,
        *,
        call_id: str | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> FakeCall:
        if self.refuse is not None:
            raise self.refuse
        if self.reject is not None:
            raise self.reject
        call_id = call_id or f"call-{len(self.created) + 1}"
        if any(c.id == call_id and not c.closed.is_set() for c in self.created):
            raise ValueError(f"call {call_id} already exists")
        call = FakeCall(call_id, transport, options, info, on_close, self.poke)
        self.created.append(call)
        self.poke()
        return call

    def get(self, call_id: str) -> FakeCall:
        for call in self.created:
            if call.id == call_id and not call.closed.is_set():
                return call
        raise KeyError(call_id)

    def calls(self) -> list[Call]:
        return [c for c in self.created if not c.closed.is_set()]
