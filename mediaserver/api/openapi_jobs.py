"""The OpenAPI description of /v1/jobs (kept apart from `openapi_spec.py` for its size)."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
_ERROR = {"description": 'an error: `{"error": {"message", "type", "code", "param"}}`'}
_JOB = {
    "id": "job_3f2c...", "object": "transcription.job", "status": "queued",
    "created_at": 1764700000.0, "started_at": None, "finished_at": None, "progress": 0.0,
    "audio_seconds": 0.0, "attempts": 0, "source": "upload", "error": None, "webhook": "pending",
}  # fmt: skip
_FIELDS = {
    "file": "the audio (multipart), or",
    "url": "an http(s) URL the server fetches (size-limited, timed out)",
    "webhook_url": "POSTed `{type, job, result}` when the job ends, retried with back-off",
    "task": "`transcribe` (default) or `translate`",
    "...": "every field of POST /v1/audio/transcriptions (model, language, hot_words, ...)",
}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(description: str, example: Any = None) -> Json:
    content: Json = {"schema": {"type": "object"}}
    if example is not None:
        content["example"] = example
    return {"description": description, "content": {"application/json": content}}


def _op(summary: str, description: str, **extra: Any) -> Json:
    responses = extra.pop("responses", {"200": _json("the job", _JOB)})
    return {"tags": ["Jobs"], "summary": summary, "description": description, **extra,
            "responses": {**responses, "4XX": _ERROR}}  # fmt: skip


_SCHEMA = {"type": "object", "properties": {k: {"description": v} for k, v in _FIELDS.items()}}
JOBS_PATHS: Json = {
    "/v1/jobs": {
        "post": _op(
            "Queue a transcription job",
            "Persisted (SQLite): survives restarts, never done twice; runs beside live calls, "
            "which keep priority. 202 with the job and a Location header.",
            requestBody={
                "required": True,
                "content": {
                    "multipart/form-data": {"schema": _SCHEMA},
                    "application/json": {"schema": _SCHEMA},
                },
            },
            responses={"202": _json("the queued job", _JOB)},
        ),
        "get": _op(
            "List jobs",
            "In creation order; `limit` (1-100), `after` (the previous page's `next_after`), "
            "`status`.",
            responses={"200": _json("`{object, data, has_more, next_after}`")},
        ),
    },
    "/v1/jobs/{job_id}": {
        "get": _op(
            "A job: status and progress",
            "With `?response_format=` (json, text, srt, vtt, verbose_json): its transcript, "
            "409 until it succeeded.",
            parameters=[_JOB_ID],
        ),
        "delete": _op(
            "Cancel a job", "Queued or running; 409 once finished.", parameters=[_JOB_ID]
        ),
    },
}
