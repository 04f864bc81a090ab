"""Reading a JSON request body: the one helper every JSON route uses.

The declared Content-Length is checked before a byte is read and the streamed bytes are counted
as they arrive, so an oversized body is refused (413) without being buffered; nesting is bounded
(`codecs.bounded_json`); anything else wrong is a 400 naming the problem.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request

from mediaserver.api.errors import ApiError
from mediaserver.codecs.bounded_json import JsonError, parse_json

MAX_BODY_BYTES: Final = 64 * 1024  # SDP offers are a few kB, call options and TTS text less


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body larger than {limit} bytes")


async def read_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused (413) as soon as it is known to pass `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "invalid_request", "Content-Length is not a number")
        if int(declared) > max_bytes:
            raise _too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


async def read_json_object(
    request: Request,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    empty_is_object: bool = False,
    require_json_type: bool = False,
) -> dict[str, Any]:
    """The body as a JSON object. `empty_is_object`: no body means `{}` (all defaults);
    `require_json_type`: 415 unless the Content-Type is application/json."""
    if require_json_type:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/json"):
            raise ApiError(415, "unsupported_media_type", "send the request as application/json")
    raw = await read_body(request, max_bytes)
    if not raw.strip() and empty_is_object:
        return {}
    try:
        value = parse_json(raw)
    except JsonError as exc:
        raise ApiError(400, "invalid_json", f"the request body is {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return value
