"""`mediaserver transcribe FILE` and `mediaserver translate FILE`: no server needed.

The model runs in a local worker process started through the same supervisor as the server's,
so the CLI and the REST API share one code path (decode, preprocess, engine, post-process,
format). Files longer than `PROGRESS_AFTER_S` show a progress bar on stderr; the transcript goes
to stdout or to `-o FILE`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

from mediaserver.audio.decode import AudioDecodeError, ChannelSelect
from mediaserver.batch import transcription as batch
from mediaserver.commands.transcribe_dir import DirTranscriber
from mediaserver.config import Settings
from mediaserver.decoding.sandbox import DecodeSandbox, SandboxLimits
from mediaserver.domain.normalizer import Normalizer, itn_cache_dir
from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor
from mediaserver.engines.base import (
    ModelLoadError,
    ModelNotFoundError,
    ProgressCallback,
    Task,
    TranscribeOptions,
)
from mediaserver.engines.errors import EngineError
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.supervision.build import ModelTypeError, build_supervisor, stt_model
from mediaserver.formats.transcripts import FORMATS, ResponseFormat, render

PROGRESS_AFTER_S = 30.0
OK, FAILED = 0, 1
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}]"


def register(subparsers: Any) -> None:
    for verb, help_text in (
        ("transcribe", "transcribe an audio file with a local worker (no server needed)"),
        ("translate", "translate an audio file's speech to English text"),
    ):
        p: argparse.ArgumentParser = subparsers.add_parser(verb, help=help_text)
        p.add_argument(
            "file", metavar="FILE", type=Path, help="WAV, MP3, FLAC, M4A..., or a folder (-o OUT/)"
        )
        p.add_argument("--model", help="installed STT model (default from config)")
        if verb == "transcribe":
            p.add_argument("--language", help="language code, e.g. pt (default: detect)")
        p.add_argument("--format", choices=FORMATS, default="text", help="output format")
        p.add_argument("--prompt", help="context for the decoder (names, spelling)")
        p.add_argument("--hot-words", metavar="A,B", help="comma-separated hot words")
        p.add_argument("--no-itn", action="store_true", help="leave spoken numbers as words")
        p.add_argument("--no-entities", action="store_true", help="do not format entities")
        p.add_argument("--redact", action="store_true", help="mask CPF/CNPJ/phone/card digits")
        p.add_argument(
            "--channel", default="mix", help="mix (default), all (per channel, merged) or an index"
        )
        p.add_argument(
            "--word-timestamps", action="store_true", help="words with times in verbose_json"
        )
        p.add_argument("-o", "--output", type=Path, metavar="OUT", help="write here, not stdout")
        p.add_argument(
            "--jobs", type=int, default=1, metavar="N", help="with a folder: files at once"
        )
        p.set_defaults(func=run, task="translate" if verb == "translate" else "transcribe")


def _channel(value: str) -> ChannelSelect:
    if value in ("mix", "all"):
        return "mix" if value == "mix" else "all"
    if value.isdigit():
        return int(value)
    raise ValueError(f"--channel must be mix, all or a channel index, got {value!r}")


def _postprocess_options(args: argparse.Namespace, settings: Settings) -> PostprocessOptions:
    pp = settings.postprocess
    extra = tuple(w.strip() for w in (args.hot_words or "").split(",") if w.strip())
    return PostprocessOptions(
        itn=pp.itn and not args.no_itn,
        entities=pp.entities and not args.no_entities,
        redact=pp.redact or args.redact,
        hot_words=tuple(dict.fromkeys((*pp.hot_words, *extra))),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.file.is_dir():
        return run_folder(args, settings)
    try:
        text = asyncio.run(transcribe_file(args, settings))
    except (ModelNotFoundError, ModelLoadError, ModelTypeError, AudioDecodeError) as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return FAILED
    except EngineError as exc:
        print(f"mediaserver: transcription failed: {exc}", file=sys.stderr)
        return FAILED
    except ValueError as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    return OK


def run_folder(args: argparse.Namespace, settings: Settings) -> int:
    """Every file of the folder `args.file` into the folder `args.output` (resumable)."""
    if args.output is None or args.output.is_file():
        print("mediaserver: with a folder, name an output folder: -o OUT/", file=sys.stderr)
        return 2
    name = args.model or settings.models.default_stt
    try:
        capabilities = stt_model(Registry.from_settings(settings), name).manifest.capabilities
        hot_words = tuple(w.strip() for w in (args.hot_words or "").split(",") if w.strip())
        options = TranscribeOptions(
            language=getattr(args, "language", None),
            task=args.task,
            prompt=args.prompt if capabilities.initial_prompt else None,
            hot_words=hot_words if capabilities.hot_words else (),
            word_timestamps=args.word_timestamps and capabilities.word_timestamps,
        )
        folder = DirTranscriber(
            args, settings, _channel(args.channel), options, _postprocess_options(args, settings)
        )
        return asyncio.run(folder.run(args.file, args.output, name))
    except (ModelNotFoundError, ModelLoadError, ModelTypeError, ValueError) as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return FAILED


async def transcribe_file(args: argparse.Namespace, settings: Settings) -> str:
    """Decode, transcribe and format `args.file`; returns the formatted output."""
    task: Task = args.task
    fmt: ResponseFormat = args.format
    channel = _channel(args.channel)
    registry = Registry.from_settings(settings)
    name = args.model or settings.models.default_stt
    capabilities = stt_model(registry, name).manifest.capabilities
    if task == "translate" and not capabilities.translation:
        raise ValueError(f"model {name!r} cannot translate")
    # The same decoding as the server's, child process and limits included: same results.
    decoder = DecodeSandbox(SandboxLimits.from_settings(settings.server), spare=False)
    decoded = await decoder.decode(args.file, channels=channel)
    rows = await asyncio.to_thread(batch.preprocess, decoded.samples, settings.audio)
    tags: list[int | None] = list(range(len(rows))) if channel == "all" else [None]
    hot_words = tuple(w.strip() for w in (args.hot_words or "").split(",") if w.strip())
    options = TranscribeOptions(
        language=getattr(args, "language", None),
        task=task,
        prompt=args.prompt if capabilities.initial_prompt else None,
        hot_words=hot_words if capabilities.hot_words else (),
        word_timestamps=args.word_timestamps and capabilities.word_timestamps,
    )
    # One file, then exit: the worker never needs unloading, and with no live call in this
    # process there is nothing for a niced batch worker to give way to.
    shown = not getattr(args, "verbose", False)  # -v: log lines instead of the bar
    bar = ProgressBar(decoded.duration_s * len(rows), shown=shown)
    if bar.visible:
        # Windows decoded one at a time, so the bar moves at each (~30 s of audio) rather than
        # at every other: 300 s of speech in 16.4 s instead of 15.0 s on 2 CPU cores (base).
        options = dataclasses.replace(options, batch_size=1)
    async with build_supervisor(settings, registry, auto_unload_s=0, batch_nice=-1) as engines:
        with bar as progress:
            result = await batch.transcribe(
                engines, name, list(zip(tags, rows, strict=True)), options, progress
            )
    post = _postprocess_options(args, settings)
    normalizer = Normalizer(itn_cache_dir(settings.models.path), use_nemo=settings.postprocess.nemo)
    result = await asyncio.to_thread(batch.postprocess, result, Postprocessor(normalizer), post)
    return render(result, fmt, words=args.word_timestamps)


class ProgressBar:
    """A tqdm bar on stderr for long files, in seconds of audio done: the engine reports the end
    of each segment it decodes. Nothing for short files, with `shown=False` (`-v` prints log
    lines instead, which would tear a bar), or when stderr is not a terminal."""

    def __init__(self, duration_s: float, *, shown: bool = True) -> None:
        self._duration = duration_s
        self.visible = shown and duration_s >= PROGRESS_AFTER_S and sys.stderr.isatty()
        self._bar: Any = None

    def __enter__(self) -> ProgressCallback:
        if self.visible:
            from tqdm import tqdm

            self._bar = tqdm(
                total=round(self._duration, 1),
                unit="s",
                desc="transcribing",
                file=sys.stderr,
                bar_format=BAR_FORMAT,
                mininterval=0.1,
            )
        return self._report

    def _report(self, done: float, total: float) -> None:
        if self._bar is not None:
            step = round(min(done, self._duration), 1) - self._bar.n
            if step > 0:  # reports may repeat a position; a bar never moves back
                self._bar.update(step)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
