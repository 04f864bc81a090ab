from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from structlog.testing import capture_logs

from mediaserver.calls.drain import CLOSE_REASON, Drainer, DrainReport


@dataclass
class Flag:
    """A call manager as the drain sees it: the flag and the live calls."""

    draining: bool = False
    live: list[FakeCall] = field(default_factory=list)

    def calls(self) -> list[FakeCall]:
        return self.live


@dataclass(eq=False)
class FakeCall:
    id: str
    close_error: BaseException | None = None
    close_hangs: bool = False
    closed_with: list[str] = field(default_factory=list)
    _closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def state(self) -> str:
        return "closed" if self._closed.is_set() else "active"

    def hang_up(self) -> None:
        self._closed.set()

    async def close(self, reason: str = "requested") -> None:
        self.closed_with.append(reason)
        if self.close_hangs:
            await asyncio.Event().wait()
        if self.close_error is not None:
            raise self.close_error
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()


def drainer(flag: Flag, calls: list[FakeCall], **kwargs: float) -> Drainer:
    kwargs.setdefault("timeout_s", 5.0)
    flag.live = calls
    return Drainer(flag, **kwargs)


async def test_flag_goes_up_before_anything_awaits() -> None:
    flag = Flag()
    d = drainer(flag, [])
    task = d.start()
    assert flag.draining
    assert d.started
    assert d.start() is task  # idempotent
    assert await task == DrainReport(finished=0, closed=0, failed=0)


async def test_calls_that_end_in_time_are_not_closed() -> None:
    calls = [FakeCall("a"), FakeCall("b")]
    task = drainer(Flag(), calls).start()
    await asyncio.sleep(0.01)
    assert not task.done()  # waits for the active calls
    calls[0].hang_up()
    await asyncio.sleep(0.01)
    assert not task.done()
    calls[1].hang_up()
    report = await asyncio.wait_for(task, 1.0)
    assert report == DrainReport(finished=2, closed=0, failed=0)
    assert calls[0].closed_with == calls[1].closed_with == []


async def test_calls_still_open_at_the_deadline_are_closed() -> None:
    calls = [FakeCall("a"), FakeCall("b"), FakeCall("done")]
    calls[2].hang_up()  # already closed: ignored
    loop = asyncio.get_running_loop()
    started = loop.time()
    report = await drainer(Flag(), calls, timeout_s=0.1).drain()
    assert loop.time() - started >= 0.1
    assert report == DrainReport(finished=0, closed=2, failed=0)
    assert calls[0].closed_with == calls[1].closed_with == [CLOSE_REASON]
    assert calls[2].closed_with == []


async def test_one_call_failing_to_close_does_not_affect_the_others() -> None:
    calls = [
        FakeCall("boom", close_error=RuntimeError("engine gone")),
        FakeCall("stuck", close_hangs=True),
        FakeCall("fine"),
    ]
    with capture_logs() as logs:
        report = await drainer(Flag(), calls, timeout_s=0.0, close_timeout_s=0.05).drain()
    assert report == DrainReport(finished=0, closed=1, failed=2)
    assert calls[2].state == "closed"
    failures = {e["call_id"]: e["error"] for e in logs if e["event"] == "call.close_failed"}
    assert failures == {"boom": "RuntimeError", "stuck": "TimeoutError"}


async def test_grace_keeps_the_drain_going_without_calls() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await drainer(Flag(), [], grace_s=0.1).drain()
    assert loop.time() - started >= 0.1


async def test_a_call_ending_early_does_not_cut_the_grace() -> None:
    call = FakeCall("a")
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = drainer(Flag(), [call], grace_s=0.1).start()
    call.hang_up()
    assert await task == DrainReport(finished=1, closed=0, failed=0)
    assert loop.time() - started >= 0.1


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout_s": -1.0}, {"grace_s": -0.5}, {"close_timeout_s": 0.0}],
)
def test_bad_timeouts_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="drain timeouts"):
        drainer(Flag(), [], **kwargs)
