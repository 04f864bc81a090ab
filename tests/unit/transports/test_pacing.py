"""FramePacer: 20 ms frames on deadlines, padding at the end, cancel, back-to-back talkspurts."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mediaserver.transports.pacing import FramePacer

RATE = 16000
FRAME = RATE // 50 * 2


async def test_frames_leave_on_the_20ms_grid() -> None:
    loop = asyncio.get_running_loop()
    sent: list[tuple[float, bytes]] = []
    pacer = FramePacer(RATE, lambda f: sent.append((loop.time(), f)))
    pcm = np.arange(RATE // 2, dtype="<i2").tobytes()  # 0.5 s: 25 frames
    pacer.write(pcm[:1000])
    pacer.write(pcm[1000:])
    pacer.end()
    async with asyncio.timeout(5):
        await pacer.drained()
    assert b"".join(f for _, f in sent) == pcm
    assert len(sent) == 25
    start = sent[0][0]
    deviation = [abs(t - start - i * 0.02) for i, (t, _) in enumerate(sent)]
    assert max(deviation) < 0.015  # lateness never accumulates
    assert sent[-1][0] - start >= 24 * 0.02 - 1e-3  # paced, not a burst


async def test_partial_frame_is_padded_at_the_end() -> None:
    sent: list[bytes] = []
    pacer = FramePacer(RATE, sent.append)
    pacer.write(b"\x01\x00" * 10)
    assert sent == []
    pacer.end()
    await pacer.drained()
    assert sent == [b"\x01\x00" * 10 + bytes(FRAME - 20)]


async def test_cancel_drops_the_rest() -> None:
    sent: list[bytes] = []
    pacer = FramePacer(RATE, sent.append)
    pacer.write(bytes(FRAME * 50))
    await asyncio.sleep(0.05)
    pacer.cancel()
    count = len(sent)
    assert 1 <= count <= 5
    await pacer.drained()
    await asyncio.sleep(0.05)
    assert len(sent) == count


async def test_a_failing_send_ends_the_talkspurt() -> None:
    def broken(frame: bytes) -> None:
        raise ConnectionResetError

    pacer = FramePacer(RATE, broken)
    pacer.write(bytes(FRAME * 3))
    async with asyncio.timeout(1):
        await pacer.drained()
    assert (pacer.frames_sent, pacer.send_errors) == (0, 1)


async def test_bad_input() -> None:
    with pytest.raises(ValueError, match="sample_rate must be > 0"):
        FramePacer(0, print)
    pacer = FramePacer(RATE, print)
    with pytest.raises(ValueError, match="even number of bytes"):
        pacer.write(b"\x00")
