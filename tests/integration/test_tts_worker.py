"""The real espeak-ng engine served by a real worker process through the supervisor."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mediaserver.engines.supervision.spec import SupervisorOptions, WorkerSpec
from mediaserver.engines.supervision.supervisor import Supervisor


async def test_espeak_synthesizes_through_a_worker(tmp_path: Path) -> None:
    spec = WorkerSpec(model="espeak-ng", engine="espeak-ng", model_dir=tmp_path, kind="tts")
    async with Supervisor(lambda name: spec, SupervisorOptions(auto_unload_s=0)) as sup:
        chunks = [c async for c in sup.synthesize("espeak-ng", "Olá. Um momento, por favor.", "")]
    rates = {rate for _, rate in chunks}
    assert rates == {22050}
    assert len(chunks) >= 2  # one chunk per clause: the first leaves before the whole text
    pcm = np.frombuffer(b"".join(pcm for pcm, _ in chunks), np.int16)
    seconds = len(pcm) / 22050
    assert 0.8 < seconds < 5.0
    assert np.abs(pcm).max() > 1000
