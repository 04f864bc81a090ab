"""`mediaserver transcribe DIR/ -o OUT/ [--jobs N]`: every audio file of a folder, resumable.

One output per input (`OUT/<relative path>.<format extension>`), written to a temporary name
and renamed into place when complete: an output that exists is complete, so a second run skips
those inputs and carries on where an interrupted one stopped. One worker process serves every
file; `--jobs` files are decoded and transcribed at once (the worker's scheduler interleaves
them). A bar on stderr counts files and hours of audio; failures are printed above it and make
the exit status 1, the other files go on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaserver.audio.decode import AudioDecodeError, ChannelSelect, DecodeLimits, decode_audio
from mediaserver.batch import transcription as batch
from mediaserver.config import Settings
from mediaserver.domain.normalizer import Normalizer, itn_cache_dir
from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor
from mediaserver.engines.base import TranscribeOptions
from mediaserver.engines.errors import EngineError
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.supervision.build import build_supervisor
from mediaserver.engines.supervision.supervisor import Supervisor
from mediaserver.formats.transcripts import ResponseFormat, render

EXTENSIONS: dict[ResponseFormat, str] = {
    "text": ".txt", "json": ".json", "verbose_json": ".json", "srt": ".srt", "vtt": ".vtt",
}  # fmt: skip
BAR_FORMAT = "{desc}: {n_fmt}/{total_fmt} files |{bar}| {postfix} [{elapsed}<{remaining}]"


@dataclass(frozen=True, slots=True)
class DirJob:
    source: Path
    output: Path


def plan(folder: Path, out: Path, fmt: ResponseFormat) -> tuple[list[DirJob], int]:
    """(files still to do, files already done), in path order; hidden files are skipped."""
    todo: list[DirJob] = []
    done = 0
    for source in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = source.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        output = out / relative.with_name(relative.name + EXTENSIONS[fmt])
        if output.is_file():
            done += 1
        else:
            todo.append(DirJob(source, output))
    return todo, done


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)  # the output appears complete or not at all


class DirTranscriber:
    def __init__(self, args: argparse.Namespace, settings: Settings, channel: ChannelSelect,
                 options: TranscribeOptions, post: PostprocessOptions) -> None:  # fmt: skip
        self._args = args
        self._settings = settings
        self._channel = channel
        self._options = options
        self._post = post
        self._limits = DecodeLimits(
            max_duration_s=settings.server.max_audio_duration_s,
            max_decode_s=settings.server.max_decode_s,
        )
        self._processor = Postprocessor(
            Normalizer(itn_cache_dir(settings.models.path), use_nemo=settings.postprocess.nemo)
        )
        self.failed = 0

    async def one(self, engines: Supervisor, model: str, job: DirJob) -> float:
        """Transcribe one file into its output; returns its audio seconds."""
        decoded = await asyncio.to_thread(
            decode_audio, job.source, channels=self._channel, dtype="int16", limits=self._limits
        )
        rows = await asyncio.to_thread(batch.preprocess, decoded.samples, self._settings.audio)
        tags: list[int | None] = list(range(len(rows))) if self._channel == "all" else [None]
        result = await batch.transcribe(
            engines, model, list(zip(tags, rows, strict=True)), self._options
        )
        result = await asyncio.to_thread(batch.postprocess, result, self._processor, self._post)
        text = render(result, self._args.format, words=self._args.word_timestamps)
        await asyncio.to_thread(write_atomically, job.output, text)
        return decoded.duration_s

    async def run(self, folder: Path, out: Path, model: str) -> int:
        todo, done = plan(folder, out, self._args.format)
        bar = _bar(len(todo) + done, done)
        hours = 0.0
        queue: asyncio.Queue[DirJob] = asyncio.Queue()
        for job in todo:
            queue.put_nowait(job)
        registry = Registry.from_settings(self._settings)

        async def work(engines: Supervisor) -> None:
            nonlocal hours
            while not queue.empty():
                job = queue.get_nowait()
                try:
                    hours += await self.one(engines, model, job) / 3600.0
                except (AudioDecodeError, EngineError, ValueError) as exc:
                    self.failed += 1
                    bar.write(f"mediaserver: {job.source}: {exc}", file=sys.stderr)
                bar.set_postfix_str(f"{hours:.2f} h audio")
                bar.update(1)

        try:
            # No live call in this process: one worker, at the user's own priority.
            supervisor = build_supervisor(
                self._settings, registry, auto_unload_s=0, batch_nice=-1
            )
            async with supervisor as engines:
                await asyncio.gather(*(work(engines) for _ in range(max(self._args.jobs, 1))))
        finally:
            bar.close()
        return 1 if self.failed else 0


def _bar(total: int, done: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc="transcribing", file=sys.stderr,
                bar_format=BAR_FORMAT, postfix="0.00 h audio")  # fmt: skip
