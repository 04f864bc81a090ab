"""POST /v1/audio/transcriptions and /v1/audio/translations (OpenAI-compatible multipart).

The body is read as it streams in and refused with 413 as soon as it passes the upload limit,
so an oversized upload never sits in memory or on disk. Decoding runs in a child process
under memory and CPU limits (`mediaserver.decoding`), preprocessing in a thread, the engine
in its worker process, post-processing on its own thread: the event loop only moves bytes.
Extensions to OpenAI's fields: `hot_words` (comma-separated), `itn`, `entities`, `redact`
(booleans) and `channel` (`mix`, `all` or a channel index).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediaserver.api.context import runtime_of
from mediaserver.api.errors import ApiError
from mediaserver.audio.decode import ChannelSelect
from mediaserver.batch import transcription as batch
from mediaserver.config import Settings
from mediaserver.domain.pipeline import PostprocessOptions
from mediaserver.engines.base import Task, TranscribeOptions
from mediaserver.engines.supervision.build import stt_model
from mediaserver.formats.transcripts import MEDIA_TYPES, ResponseFormat, parse_format, render

log = structlog.get_logger("mediaserver.api.transcriptions")

# Room for the form's text fields and multipart headers on top of the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 16 * 1024
MAX_FIELDS = 32
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class TranscriptionParams:
    model: str
    response_format: ResponseFormat
    channel: ChannelSelect
    engine: TranscribeOptions
    postprocess: PostprocessOptions | None  # None: nothing to do
    words: bool  # word timestamps in verbose_json


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, param=param)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "upload_too_large", f"upload larger than the limit of {limit} bytes")


async def read_form(request: Request, max_upload_bytes: int) -> FormData:
    """Parse the multipart body, refusing it (413) once it passes the limit (plus room for the
    other fields: the file itself is checked against the exact limit once parsed)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "send the audio as multipart/form-data")
    limit = max_upload_bytes + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(max_upload_bytes)

    async def bounded() -> AsyncGenerator[bytes, None]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise _too_large(max_upload_bytes)
            yield chunk

    parser = MultiPartParser(
        request.headers, bounded(), max_files=1, max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
    )  # fmt: skip
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise _bad(f"malformed multipart body: {exc.message}") from None


def _text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _bad(f"{name} must be a text field", name)
    return value.strip()


def _bool(form: FormData, name: str, default: bool) -> bool:
    value = _text(form, name).lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _bad(f"{name} must be true or false, got {value!r}", name)


def _temperature(form: FormData) -> float | tuple[float, ...]:
    raw = _text(form, "temperature")
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        raise _bad(f"temperature must be a number, got {raw!r}", "temperature") from None
    if not 0.0 <= value <= 1.0:
        raise _bad("temperature must be between 0 and 1", "temperature")
    # OpenAI: 0 lets the model raise the temperature when decoding fails.
    return TranscribeOptions().temperature if value == 0.0 else value


def _channel(form: FormData) -> ChannelSelect:
    raw = _text(form, "channel", "mix").lower()
    if raw in ("mix", "all"):
        return "mix" if raw == "mix" else "all"
    if raw.isdigit() and int(raw) < 8:
        return int(raw)
    raise _bad(f"channel must be mix, all or a channel index, got {raw!r}", "channel")


def _granularities(form: FormData) -> set[str]:
    values = [*form.getlist("timestamp_granularities[]"), *form.getlist("timestamp_granularities")]
    out = {str(v).strip() for v in values if str(v).strip()}
    unknown = out - {"word", "segment"}
    if unknown:
        name = sorted(unknown)[0]
        raise _bad(f"unknown timestamp granularity {name!r}", "timestamp_granularities")
    return out


def parse_params(form: FormData, task: Task, settings: Settings) -> TranscriptionParams:
    """The request's fields, checked; 400 naming the field otherwise."""
    try:
        fmt = parse_format(_text(form, "response_format", "json"))
    except ValueError as exc:
        raise _bad(str(exc), "response_format") from None
    pp = settings.postprocess
    extra = tuple(w.strip() for w in _text(form, "hot_words").split(",") if w.strip())
    hot_words = tuple(dict.fromkeys((*pp.hot_words, *extra)))
    post = PostprocessOptions(
        itn=_bool(form, "itn", pp.itn),
        entities=_bool(form, "entities", pp.entities),
        redact=_bool(form, "redact", pp.redact),
        hot_words=hot_words,
    )
    words = "word" in _granularities(form)
    engine = TranscribeOptions(
        language=_text(form, "language") or None,
        task=task,
        prompt=_text(form, "prompt") or None,
        hot_words=hot_words,
        temperature=_temperature(form),
        word_timestamps=words,
    )
    wanted = post.itn or post.entities or post.redact or bool(post.hot_words)
    return TranscriptionParams(
        model=_text(form, "model") or settings.models.default_stt,
        response_format=fmt,
        channel=_channel(form),
        engine=engine,
        postprocess=post if wanted else None,
        words=words,
    )


def _upload(form: FormData, max_bytes: int) -> UploadFile:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise _bad("the audio file is missing (multipart field `file`)", "file")
    if upload.size is not None and upload.size > max_bytes:
        raise _too_large(max_bytes)
    return upload


def _engine_options(params: TranscriptionParams, capabilities: Any) -> TranscribeOptions:
    """Drop what the model cannot use; refuse what it cannot do."""
    options = params.engine
    if options.task == "translate" and not capabilities.translation:
        raise _bad(f"model {params.model!r} cannot translate", "model")
    return dataclasses.replace(
        options,
        prompt=options.prompt if capabilities.initial_prompt else None,
        hot_words=options.hot_words if capabilities.hot_words else (),
        word_timestamps=options.word_timestamps and capabilities.word_timestamps,
    )


async def _handle(request: Request, task: Task) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings
    form = await read_form(request, settings.server.max_upload_bytes)
    try:
        params = parse_params(form, task, settings)
        upload = _upload(form, settings.server.max_upload_bytes)
        model = await asyncio.to_thread(stt_model, runtime.registry, params.model)
        options = _engine_options(params, model.manifest.capabilities)
        started = time.monotonic()
        # The codec runs in a child process under memory/CPU limits (see mediaserver.decoding).
        decoded = await runtime.decoder.decode(upload.file, channels=params.channel)
    finally:
        await form.close()
    rows = await asyncio.to_thread(batch.preprocess, decoded.samples, settings.audio)
    audio_s = decoded.duration_s
    del decoded  # its PCM lives on in `rows`: one copy, not two, while the engine works
    tags: list[int | None] = list(range(len(rows))) if params.channel == "all" else [None]
    channels = list(zip(tags, rows, strict=True))
    result = await batch.transcribe(runtime.supervisor, params.model, channels, options)
    post = params.postprocess
    if post is not None:
        result = await runtime.postprocess(lambda p: batch.postprocess(result, p, post))
    elapsed = time.monotonic() - started
    metrics = runtime.metrics
    metrics.transcription_audio_seconds.labels(params.model).inc(audio_s)
    if audio_s > 0:
        metrics.transcription_rtf.labels(params.model).observe(elapsed / audio_s)
    log.info(
        "transcription.done",
        task=task,
        model=params.model,
        audio_s=round(audio_s, 2),
        elapsed_s=round(elapsed, 3),
        segments=len(result.segments),
    )
    body = render(result, params.response_format, words=params.words)
    return Response(body, media_type=MEDIA_TYPES[params.response_format])


async def _counted(request: Request, task: Task) -> Response:
    metrics = runtime_of(request).metrics
    try:
        response = await _handle(request, task)
    except ApiError as exc:
        metrics.transcription_requests.labels(task, exc.code).inc()
        raise
    except Exception:
        metrics.transcription_requests.labels(task, "error").inc()
        raise
    metrics.transcription_requests.labels(task, "ok").inc()
    return response


async def transcriptions(request: Request) -> Response:
    return await _counted(request, "transcribe")


async def translations(request: Request) -> Response:
    return await _counted(request, "translate")


routes = [
    Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
    Route("/v1/audio/translations", translations, methods=["POST"]),
]
