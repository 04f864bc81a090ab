"""VadTicker: one batched inference step serves every fed call; a broken call is isolated."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mediaserver.audio.silero import SileroModel
from mediaserver.audio.vad import VadBatcher, VadStream
from mediaserver.calls.vad_ticker import VadTicker


class Client:
    def __init__(self, seed: int) -> None:
        self.vad_stream = VadStream()
        self.done: list[float] = []
        self.failed: list[Exception] = []
        rng = np.random.default_rng(seed)
        # Loud noise: the pre-filter cannot call it silence, so every chunk needs the network.
        self.audio = (rng.standard_normal(512 * 4) * 8000).astype(np.int16)

    def vad_done(self, now: float) -> None:
        self.done.append(now)

    def vad_failed(self, exc: Exception) -> None:
        self.failed.append(exc)


@pytest.fixture(scope="module")
def batcher() -> VadBatcher:
    return VadBatcher(SileroModel())


def test_one_inference_per_chunk_step_for_all_calls(batcher: VadBatcher) -> None:
    ticker = VadTicker(batcher)
    clients = [Client(seed) for seed in range(20)]
    for client in clients:
        client.vad_stream.feed(client.audio)
        ticker.mark(client)
        ticker.mark(client)  # marked twice: still one answer per chunk
    ticker.run_once(7.0)
    assert ticker.inferences == 4  # 4 chunks each, 20 calls: 4 batched steps, not 80
    for client in clients:
        assert client.done == [7.0]
        assert client.vad_stream.inferred_chunks == 4
        assert not client.vad_stream.pending
    ticker.run_once(8.0)  # nothing was fed since: nobody is called
    assert all(client.done == [7.0] for client in clients)


def test_a_broken_stream_fails_only_its_call(batcher: VadBatcher) -> None:
    ticker = VadTicker(batcher)
    good, bad = Client(1), Client(2)
    for client in (good, bad):
        client.vad_stream.feed(client.audio)
        ticker.mark(client)

    def broken() -> np.ndarray:
        raise RuntimeError("corrupt state")

    bad.vad_stream.window = broken  # type: ignore[method-assign]
    ticker.run_once(1.0)
    assert good.done == [1.0]
    assert good.vad_stream.inferred_chunks == 4
    assert bad.done == []
    assert [type(e) for e in bad.failed] == [RuntimeError]


async def test_the_task_ticks_while_calls_are_fed_and_sleeps_otherwise(
    batcher: VadBatcher,
) -> None:
    ticker = VadTicker(batcher, interval=0.005)
    ticker.start()
    try:
        client = Client(3)
        await asyncio.sleep(0.03)
        assert ticker.ticks == 0  # idle: no work
        client.vad_stream.feed(client.audio)
        ticker.mark(client)
        for _ in range(100):
            if client.done:
                break
            await asyncio.sleep(0.005)
        assert len(client.done) == 1
        assert client.vad_stream.inferred_chunks == 4
    finally:
        await ticker.aclose()
    with pytest.raises(ValueError, match="interval"):
        VadTicker(batcher, interval=0)
