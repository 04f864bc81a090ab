"""What running one job means: get its audio, decode, transcribe (batch priority), post-process.

The same batch path as `POST /v1/audio/transcriptions` (`batch/transcription.py`); only the
audio's origin differs: an upload already on disk, or a URL fetched now (in a thread, size
limited and timed out, see `fetch.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from mediaserver.audio.decode import AudioDecodeError, DecodeLimits, decode_audio
from mediaserver.batch import transcription as batch
from mediaserver.batch.transcription import BatchResult
from mediaserver.config import Settings
from mediaserver.domain.pipeline import Postprocessor
from mediaserver.engines.base import ModelNotFoundError, ProgressCallback
from mediaserver.engines.supervision.supervisor import Supervisor
from mediaserver.jobs.codec import JobRequest
from mediaserver.jobs.fetch import FetchError, download
from mediaserver.jobs.runner import JobFailed
from mediaserver.jobs.store import Job

T = TypeVar("T")
Postprocess = Callable[[Callable[[Postprocessor], BatchResult]], Awaitable[BatchResult]]


def audio_dir(settings: Settings) -> Path:
    return settings.jobs.path / "audio"


class BatchJobs:
    """`execute(job, progress)` for the `JobRunner`: one job through the batch path."""

    def __init__(self, settings: Settings, engines: Supervisor, postprocess: Postprocess):
        self._settings = settings
        self._engines = engines
        self._postprocess = postprocess

    async def __call__(self, job: Job, progress: ProgressCallback) -> BatchResult:
        request = JobRequest.from_dict(job.request)
        path = await self._audio(job)
        try:
            result = await self._transcribe(path, request, progress)
        except asyncio.CancelledError:
            # Stopped (the job goes back to the queue) or cancelled: an upload is kept for the
            # re-run (a cancelled job's audio goes with `JobService.cancel`).
            if job.url is not None:
                await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        except BaseException:
            await self._done_with(path)
            raise
        await self._done_with(path)
        return result

    async def _done_with(self, path: Path) -> None:
        if not self._settings.jobs.keep_audio:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def _audio(self, job: Job) -> Path:
        if job.url is None:
            exists = job.audio_path is not None and await asyncio.to_thread(
                Path(job.audio_path).is_file
            )
            if job.audio_path is None or not exists:
                raise JobFailed("the job's uploaded audio is gone from the server")
            return Path(job.audio_path)
        dest = audio_dir(self._settings) / f"{job.id}.download"
        dest.parent.mkdir(parents=True, exist_ok=True)
        jobs = self._settings.jobs
        try:
            await asyncio.to_thread(
                download, job.url, dest, max_bytes=jobs.url_max_bytes, timeout_s=jobs.url_timeout_s
            )
        except FetchError as exc:
            dest.unlink(missing_ok=True)
            raise JobFailed(str(exc)) from None
        return dest

    async def _transcribe(
        self, path: Path, request: JobRequest, progress: ProgressCallback
    ) -> BatchResult:
        server = self._settings.server
        limits = DecodeLimits(
            max_duration_s=server.max_audio_duration_s, max_decode_s=server.max_decode_s
        )
        try:
            decoded = await asyncio.to_thread(
                decode_audio, path, channels=request.channel, dtype="int16", limits=limits
            )
        except AudioDecodeError as exc:
            raise JobFailed(f"cannot decode the audio: {exc}") from None
        rows = await asyncio.to_thread(batch.preprocess, decoded.samples, self._settings.audio)
        tags: list[int | None] = list(range(len(rows))) if request.channel == "all" else [None]
        try:
            result = await batch.transcribe(
                self._engines, request.model, list(zip(tags, rows, strict=True)),
                request.engine, progress,
            )  # fmt: skip
        except ModelNotFoundError as exc:
            raise JobFailed(str(exc)) from None
        post = request.postprocess
        if post is not None:
            done = result
            result = await self._postprocess(lambda p: batch.postprocess(done, p, post))
        return result
