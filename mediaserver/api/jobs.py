"""Asynchronous transcription jobs for back-offices: /v1/jobs.

- `POST /v1/jobs`: multipart (`file`, or a `url` the server fetches) or JSON (`url`), with the
  fields of `POST /v1/audio/transcriptions` plus `task` and `webhook_url` -> 202, the job.
- `GET /v1/jobs/{id}`: the job (status, progress); with `?response_format=` the transcript in
  that format once it succeeded (409 before).
- `GET /v1/jobs?limit=&after=&status=`: jobs in creation order, a page at a time.
- `DELETE /v1/jobs/{id}`: cancel a queued or running job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediaserver.api.context import runtime_of
from mediaserver.api.errors import ApiError
from mediaserver.api.transcriptions import FORM_OVERHEAD_BYTES, TranscriptionParams, read_form
from mediaserver.api.transcriptions import parse_params as parse_transcription
from mediaserver.engines.base import Task
from mediaserver.engines.supervision.build import stt_model
from mediaserver.formats.transcripts import MEDIA_TYPES, parse_format, render
from mediaserver.jobs.codec import JobRequest
from mediaserver.jobs.fetch import check_url
from mediaserver.jobs.service import JobService, JobsUnavailable, QueueFull, job_result, job_view
from mediaserver.jobs.store import FINISHED, Job, JobStatus

MAX_PAGE = 100


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, param=param)


def _service(request: Request) -> JobService:
    jobs = runtime_of(request).jobs
    if jobs is None or jobs.runner is None:
        raise ApiError(503, "jobs_unavailable", "transcription jobs are disabled on this server")
    return jobs


async def _form(request: Request) -> FormData:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > FORM_OVERHEAD_BYTES:
                raise ApiError(413, "body_too_large", "a JSON job request must be under 64 KiB")
        try:
            data = json.loads(body)
        except ValueError:
            raise _bad("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _bad("the body must be a JSON object")
        items: list[tuple[str, str | UploadFile]] = []
        for key, value in data.items():
            values = value if isinstance(value, list) else [value]
            items += [(key, json.dumps(v) if isinstance(v, bool) else str(v)) for v in values]
        return FormData(items)
    return await read_form(request, runtime_of(request).settings.server.max_upload_bytes)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(f"{name} must be a text field", name)
    return value.strip()


def _url(form: FormData, name: str) -> str | None:
    value = _field(form, name)
    if not value:
        return None
    try:
        return check_url(value)
    except ValueError as exc:
        raise _bad(str(exc).replace("url", name, 1), name) from None


def _task(form: FormData) -> Task:
    task = _field(form, "task") or "transcribe"
    if task not in ("transcribe", "translate"):
        raise _bad(f"task must be transcribe or translate, got {task!r}", "task")
    return "translate" if task == "translate" else "transcribe"


def _job_request(params: TranscriptionParams, capabilities: Any) -> JobRequest:
    """Drop what the model cannot use; refuse what it cannot do (as the sync endpoint does)."""
    options = params.engine
    if options.task == "translate" and not capabilities.translation:
        raise _bad(f"model {params.model!r} cannot translate", "model")
    engine = dataclasses.replace(
        options,
        prompt=options.prompt if capabilities.initial_prompt else None,
        hot_words=options.hot_words if capabilities.hot_words else (),
        word_timestamps=options.word_timestamps and capabilities.word_timestamps,
    )
    return JobRequest(params.model, params.channel, engine, params.postprocess, params.words)


async def create_job(request: Request) -> Response:
    jobs = _service(request)
    runtime = runtime_of(request)
    form = await _form(request)
    try:
        upload = form.get("file")
        url = _url(form, "url")
        if isinstance(upload, UploadFile) == (url is not None):
            raise _bad("send exactly one of `file` (multipart) or `url`", "file")
        params = parse_transcription(form, _task(form), runtime.settings)
        model = await asyncio.to_thread(stt_model, runtime.registry, params.model)
        job_request = _job_request(params, model.manifest.capabilities)
        webhook = _url(form, "webhook_url")
        try:
            job = await jobs.create(
                job_request, upload=upload.file if isinstance(upload, UploadFile) else None,
                url=url, webhook_url=webhook,
            )  # fmt: skip
        except QueueFull as exc:
            raise ApiError(429, "queue_full", str(exc), headers={"Retry-After": "60"}) from None
        except JobsUnavailable as exc:
            raise ApiError(503, "jobs_unavailable", str(exc)) from None
    finally:
        await form.close()
    return JSONResponse(job_view(job), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


async def _job(request: Request, jobs: JobService) -> Job:
    job_id = request.path_params["job_id"]
    job = await jobs.get(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"no job with id {job_id!r}", param="id")
    return job


async def get_job(request: Request) -> Response:
    job = await _job(request, _service(request))
    raw_format = request.query_params.get("response_format")
    if raw_format is None:
        return JSONResponse(job_view(job))
    try:
        fmt = parse_format(raw_format)
    except ValueError as exc:
        raise _bad(str(exc), "response_format") from None
    result = job_result(job)
    if result is None:
        message = f"job {job.id} is {job.status}: it has no transcript"
        if job.error:
            message += f" ({job.error})"
        raise ApiError(409, "job_not_succeeded", message, param="id")
    words = bool(job.request.get("words", False))
    body = await asyncio.to_thread(render, result, fmt, words=words)
    return Response(body, media_type=MEDIA_TYPES[fmt])


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise _bad(f"{name} must be an integer in {low}..{high}", name)
    return int(raw)


async def list_jobs(request: Request) -> Response:
    jobs = _service(request)
    limit = _int(request, "limit", 20, 1, MAX_PAGE)
    after = _int(request, "after", 0, 0, 2**62)
    raw_status = request.query_params.get("status")
    try:
        status = JobStatus(raw_status) if raw_status else None
    except ValueError:
        choices = ", ".join(s.value for s in JobStatus)
        raise _bad(f"status must be one of {choices}", "status") from None
    found = await jobs.list(limit=limit + 1, after=after, status=status)
    page = found[:limit]
    return JSONResponse({
        "object": "list",
        "data": [job_view(job) for job in page],
        "has_more": len(found) > limit,
        "next_after": page[-1].seq if page else None,
    })  # fmt: skip


async def cancel_job(request: Request) -> Response:
    jobs = _service(request)
    job = await _job(request, jobs)
    if job.status in FINISHED:
        raise ApiError(409, "job_finished", f"job {job.id} is already {job.status}", param="id")
    cancelled = await jobs.cancel(job.id)
    assert cancelled is not None
    return JSONResponse(job_view(cancelled))


routes = [
    Route("/v1/jobs", create_job, methods=["POST"]),
    Route("/v1/jobs", list_jobs, methods=["GET"]),
    Route("/v1/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/v1/jobs/{job_id}", cancel_job, methods=["DELETE"]),
]
