"""A recording call manager for transport tests: no session core, just what was fed.

Duck-typed like `mediaserver.calls.manager.CallManager`/`Call` (not subclasses: the real
classes carry the call core's state, which these fakes stand in for).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from mediaserver.calls.manager import CallRefused, Transport, TransportInfo


class FakeSubscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        while (event := await self.queue.get()) is not None:
            yield event

    def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(None)


class FakeCall:
    def __init__(
        self,
        call_id: str,
        options: Mapping[str, Any],
        info: TransportInfo,
        on_close: Callable[[], None] | None,
    ) -> None:
        self.id = call_id
        self.transport = Transport.WEBRTC
        self.events_url = f"/v1/calls/{call_id}/events"
        self.options = dict(options)
        self.transport_info = info
        self.fed: list[tuple[bytes, int]] = []
        self.digits: list[str] = []
        self.commits = 0
        self.close_reasons: list[str] = []
        self.subscriptions: list[FakeSubscription] = []
        self._on_close = on_close
        self._closed = asyncio.Event()

    @property
    def state(self) -> str:
        return "closed" if self._closed.is_set() else "active"

    def pcm(self, rate: int | None = None) -> bytes:
        return b"".join(p for p, r in self.fed if rate is None or r == rate)

    def emit(self, event: dict[str, Any]) -> None:
        for sub in self.subscriptions:
            if not sub.closed:
                sub.queue.put_nowait({**event, "call_id": self.id})

    def feed(self, pcm: bytes, sample_rate: int) -> None:
        self.fed.append((pcm, sample_rate))

    def dtmf(self, digit: str) -> None:
        self.digits.append(digit)
        self.emit({"type": "dtmf", "digit": digit})

    def commit(self) -> None:
        self.commits += 1

    async def close(self, reason: str = "requested") -> None:
        self.close_reasons.append(reason)
        if self._closed.is_set():
            return
        self.emit({"type": "session.closed", "reason": reason})
        for sub in self.subscriptions:
            sub.close()
        self._closed.set()
        if self._on_close is not None:
            self._on_close()

    def subscribe(self) -> FakeSubscription:
        sub = FakeSubscription()
        self.subscriptions.append(sub)
        return sub

    def info(self, *, detail: bool = False) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "codec": self.transport_info.codec}

    async def wait_closed(self) -> None:
        await self._closed.wait()


class FakeCallManager:
    """`options={"model": "bad"}` is refused as invalid; `refuse=True` answers 503."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.created: list[FakeCall] = []

    def create(
        self,
        transport: Transport,
        options: Mapping[str, Any],
        info: TransportInfo,
        *,
        call_id: str | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> FakeCall:
        if options.get("model") == "bad":
            raise ValueError("unknown model 'bad'")
        if self.refuse:
            raise CallRefused(503, "draining", "the server is draining")
        call = FakeCall(call_id or f"call-{len(self.created) + 1}", options, info, on_close)
        self.created.append(call)
        return call

    def get(self, call_id: str) -> FakeCall:
        for call in self.created:
            if call.id == call_id:
                return call
        raise KeyError(call_id)

    def calls(self) -> list[FakeCall]:
        return list(self.created)

    async def start(self) -> None:
        """Nothing to load (the app's lifespan calls this)."""

    async def stop(self, drain_s: float | None = None) -> None:
        for call in self.created:
            await call.close("shutdown")
