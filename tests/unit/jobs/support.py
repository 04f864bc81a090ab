"""A scripted job executor: only the queue's bookkeeping is under test, not transcription."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from mediaserver.batch.transcription import BatchResult, BatchSegment
from mediaserver.domain.pipeline import PostprocessOptions
from mediaserver.engines.base import ProgressCallback, TranscribeOptions
from mediaserver.jobs.codec import JobRequest
from mediaserver.jobs.store import Job

REQUEST = JobRequest("tiny", "mix", TranscribeOptions(language="en"), PostprocessOptions(), False)


def result_for(job_id: str) -> BatchResult:
    segment = BatchSegment(0, 0.0, 1.0, job_id, job_id)
    return BatchResult("transcribe", "en", 1.0, job_id, job_id, (segment,))


class ScriptedExecute:
    """Says each job's id as its transcript after a short random delay; counts everything."""

    def __init__(self, seed: int = 0, max_delay_s: float = 0.004) -> None:
        self.started: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._max_delay_s = max_delay_s

    async def __call__(self, job: Job, progress: ProgressCallback) -> BatchResult:
        self.started[job.id] += 1
        await asyncio.sleep(self._rng.uniform(0.0, self._max_delay_s))
        progress(0.5, 1.0)
        await asyncio.sleep(self._rng.uniform(0.0, self._max_delay_s))
        progress(1.0, 1.0)
        self.finished[job.id] += 1
        return result_for(job.id)
