"""One recording CallManager/Call for every transport's tests: no call core, just what was done.

It records what a transport does (feed, dtmf, commit, close) and lets a test emit events to
subscribers. It is not a call core: no VAD, no session state beyond active/closed. Like a real
call, every subscription starts with `session.created` and ends after `session.closed`.

Failure injection: `manager.fail = exc` makes every `create` raise `exc` (a `CallRefused` for
503/409, a `ValueError` for bad options) until it is set back to None; options naming `"bad"`
(a key, or `"model": "bad"`) are refused as invalid.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from mediaserver.calls.audio_sink import NoAudioPath
from mediaserver.calls.manager import Call, CallManager, Subscription, Transport, TransportInfo
from mediaserver.calls.speaker import Speaker


class FakeSubscription(Subscription):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        while (event := await self.queue.get()) is not None:
            yield event
            if event["type"] == "session.closed":
                return

    def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(None)


class FakeCall(Call):
    # Not calling Call.__init__: the real one builds the call core this fake stands in for.
    def __init__(
        self,
        call_id: str,
        transport: Transport,
        options: Mapping[str, Any],
        transport_info: TransportInfo,
        on_close: Callable[[], None] | None,
        poke: Callable[[], None] = lambda: None,
    ) -> None:
        self._poke = poke
        self.id = call_id
        self.transport = transport
        self.events_url = f"/v1/calls/{call_id}/events"
        self.options = dict(options)
        self.transport_info = transport_info
        self.on_close = on_close
        self.fed: list[tuple[bytes, int]] = []
        self.feeds: list[tuple[float, int, int]] = []  # (loop time, bytes, rate)
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
        return "closed" if self.closed.is_set() else "active"

    @property
    def fed_bytes(self) -> bytes:
        return b"".join(pcm for pcm, _ in self.fed)

    def pcm(self, rate: int | None = None) -> bytes:
        """Everything fed (at `rate` only, when given)."""
        return b"".join(p for p, r in self.fed if rate is None or r == rate)

    def feed(self, pcm: bytes, sample_rate: int) -> None:
        self.fed.append((pcm, sample_rate))
        self.feeds.append((asyncio.get_running_loop().time(), len(pcm), sample_rate))
        self._poke()

    @property
    def speaker(self) -> Speaker:
        raise NoAudioPath("a fake call cannot speak")

    def dtmf(self, digit: str) -> None:
        self.digits.append(digit)
        self._poke()
        self.emit({"type": "dtmf", "digit": digit})

    def commit(self) -> None:
        self.commits += 1
        self._poke()

    def emit(self, event: dict[str, Any]) -> None:  # type: ignore[override]
        for subscription in self.subscriptions:
            if not subscription.closed:
                subscription.queue.put_nowait({**event, "call_id": self.id})

    async def close(self, reason: str = "requested") -> None:
        self.close_reasons.append(reason)
        if len(self.close_reasons) > 1:
            await self.closed.wait()
            return
        if self.flush_delay_s:
            await asyncio.sleep(self.flush_delay_s)
        if self.final_on_close is not None:
            self.emit(self.final_on_close)
        self.emit({"type": "session.closed", "reason": reason})
        self.closed.set()
        self._poke()
        if self.on_close is not None:
            self.on_close()

    def subscribe(self) -> FakeSubscription:
        subscription = FakeSubscription()
        subscription.queue.put_nowait(
            {"type": "session.created", "call_id": self.id, "options": self.options}
        )
        self.subscriptions.append(subscription)
        return subscription

    def info(self, *, detail: bool = False) -> dict[str, Any]:
        stats = self.transport_info.stats
        return {
            "id": self.id,
            "state": self.state,
            "codec": self.transport_info.codec,
            "stats": dict(stats()) if stats else {},
        }

    async def wait_closed(self) -> None:
        await self.closed.wait()


class FakeCallManager(CallManager):
    # Not calling CallManager.__init__: no VAD, no engines.
    def __init__(self) -> None:
        self.created: list[FakeCall] = []
        self.options: list[dict[str, Any]] = []  # of every create, refused or not
        self.fail: Exception | None = None
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
        self.options.append(dict(options))
        if self.fail is not None:
            raise self.fail
        if options.get("model") == "bad":
            raise ValueError("unknown model 'bad'")
        if "bad" in options:
            raise ValueError("unknown option bad")
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

    async def start(self) -> None:
        """Nothing to load (an app's lifespan calls this)."""

    async def stop(self, drain_s: float | None = None) -> None:
        for call in self.calls():
            await call.close("shutdown")
