"""`mediaserver speak TEXT -o FILE`: text to an audio file, no server needed.

The model runs in a local worker process started through the same supervisor and TTS
service as the server's POST /v1/audio/speech, so both say the same thing the same way (pt-BR
normalization included). The format comes from --format, else from the file's suffix, else
WAV. `-o -` writes to stdout (a WAV there has the streaming "unknown size" header); a WAV file
gets its exact sizes once the audio is complete. A failed run leaves no partial file behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any, BinaryIO

from mediaserver.config import Settings
from mediaserver.engines.base import ModelLoadError, ModelNotFoundError
from mediaserver.engines.errors import EngineError
from mediaserver.engines.models.registry import Registry
from mediaserver.engines.supervision.build import ModelTypeError, build_supervisor
from mediaserver.engines.tts.service import TtsService, TtsStream
from mediaserver.formats.audio import (
    AUDIO_FORMATS,
    AudioFormat,
    WavEncoder,
    create_encoder,
    parse_format,
    wav_header,
)

OK, FAILED, USAGE = 0, 1, 2
STDIO = "-"


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "speak", help="synthesize speech into an audio file with a local worker (no server needed)"
    )
    p.add_argument("text", metavar="TEXT", help="what to say ('-' reads it from stdin)")
    p.add_argument("-v", "--voice", help="a voice of the model (default: the model's)")
    p.add_argument("--model", help="installed TTS model (default from config: espeak-ng)")
    p.add_argument("--speed", type=float, default=1.0, help="0.5 to 2.0 (default 1.0)")
    p.add_argument(
        "--format", choices=AUDIO_FORMATS, help="audio format (default: from the suffix, or wav)"
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="where to write ('-' = stdout)"
    )
    p.set_defaults(func=run)


def output_format(output: str, given: str | None) -> AudioFormat:
    """--format if given, else the output file's suffix if it names a format, else wav."""
    if given is not None:
        return parse_format(given)
    suffix = Path(output).suffix.lower().lstrip(".")
    if suffix == "ogg":
        return "opus"
    return parse_format(suffix) if suffix in AUDIO_FORMATS else "wav"


def run(args: argparse.Namespace, settings: Settings) -> int:
    text = sys.stdin.read() if args.text == STDIO else args.text
    try:
        fmt = output_format(args.output, args.format)
        try:
            asyncio.run(speak(settings, text, fmt, args.output, args.voice, args.model, args.speed))
        except BaseException:
            if args.output != STDIO:  # no partial file left behind
                with contextlib.suppress(OSError):
                    Path(args.output).unlink()
            raise
    except (ModelNotFoundError, ModelLoadError, ModelTypeError) as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return FAILED
    except EngineError as exc:
        print(f"mediaserver: speech synthesis failed: {exc}", file=sys.stderr)
        return FAILED
    except ValueError as exc:  # bad text, voice, speed or format
        print(f"mediaserver: {exc}", file=sys.stderr)
        return USAGE
    return OK


async def speak(
    settings: Settings,
    text: str,
    fmt: AudioFormat,
    output: str,
    voice: str | None = None,
    model: str | None = None,
    speed: float = 1.0,
) -> None:
    """Synthesize `text` into `output` (a path, or "-" for stdout) as `fmt`."""
    registry = Registry.from_settings(settings)
    # One utterance, then exit: the worker never needs unloading, the cache never warms up.
    async with build_supervisor(settings, registry, auto_unload_s=0) as engines:
        tts = TtsService(engines, registry, settings)
        stream = await tts.open(text, model=model, voice=voice, speed=speed)
        try:
            if output == STDIO:
                await _write(stream, fmt, sys.stdout.buffer)
                sys.stdout.flush()
            else:
                await _write_file(stream, fmt, Path(output))
        finally:
            await stream.aclose()


async def _write_file(stream: TtsStream, fmt: AudioFormat, path: Path) -> None:
    with path.open("wb") as out:
        data_bytes = await _write(stream, fmt, out)
        if fmt == "wav":  # a file can be patched: give it its real length
            out.seek(0)
            out.write(wav_header(stream.sample_rate, data_bytes))


async def _write(stream: TtsStream, fmt: AudioFormat, out: BinaryIO) -> int:
    """Encode the stream into `out`; returns the PCM bytes written (the WAV data size)."""
    encoder = create_encoder(fmt, stream.sample_rate)
    pcm_bytes = 0
    async for pcm in stream:
        pcm_bytes += pcm.nbytes
        out.write(encoder.encode(pcm))
    out.write(encoder.finish())
    return pcm_bytes if isinstance(encoder, WavEncoder) else 0
