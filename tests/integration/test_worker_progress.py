"""Progress of a file transcription as the client sees it, through a real worker process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from mediaserver.engines.base import TranscribeOptions
from mediaserver.engines.ipc.servicer import PROGRESS_INTERVAL_S
from mediaserver.engines.supervision.supervisor import Supervisor
from tests.integration.workers_support import FAST, resolver, silence


async def test_a_burst_of_reports_ends_on_its_last_position(tmp_path: Path) -> None:
    # Batched decoding yields a whole batch's segments at once: the worker sends at most ten
    # reports a second, but the last position of a burst must reach the client (promptly, not
    # only when the next burst or the transcript comes), or the bar stalls at the first one.
    script = {"bursts": [[0.0, [0.5, 1.0, 1.5, 2.0]], [1.0, [3.0, 3.5]]]}
    seen: list[tuple[float, float]] = []
    async with Supervisor(resolver(tmp_path, m=script), FAST) as sup:
        task = asyncio.create_task(
            sup.transcribe_file(
                "m",
                silence(4.0),
                TranscribeOptions(language="pt"),
                progress=lambda d, _t: seen.append((d, time.monotonic())),
            )
        )
        await task
    positions = [d for d, _ in seen]
    assert positions == sorted(positions)
    assert 2.0 in positions
    assert positions[-1] == pytest.approx(4.0)
    at_2 = next(t for d, t in seen if d == 2.0)
    at_3 = next((t for d, t in seen if d >= 3.0), None)
    assert at_3 is not None
    # 2.0 arrived within the throttle interval (plus slack), well before the second burst.
    assert at_3 - at_2 > 1.0 - 3 * PROGRESS_INTERVAL_S
