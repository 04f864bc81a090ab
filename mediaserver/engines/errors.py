"""Errors the engine runtime raises, each saying whether the caller may retry.

`retryable`: the same request may succeed if sent again (after `retry_after_s` when given).
`recoverable`: for a streaming session, the session can carry on (re-open a stream) instead of
closing; this is what the `error` event's `recoverable` field reports.
"""

from __future__ import annotations


class EngineError(Exception):
    retryable: bool = False
    recoverable: bool = False


class WorkerCrashed(EngineError):
    """The worker died (or its connection broke) while serving this request.

    The supervisor restarts it; a new request or a re-opened stream is served once it is back.
    """

    retryable = True
    recoverable = True


class WorkerUnavailable(EngineError):
    """No worker can serve the model now: it failed to start, or it crashed too often."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.retryable = retry_after_s is not None


class WorkerStartError(WorkerUnavailable):
    """The worker process started but could not load its model (the message says why)."""


class EngineOverloadedError(EngineError):
    """The worker has more finals waiting than it can serve in time; this one was refused.

    The call goes on (recoverable); the segment has no final. Retrying would only add load.
    """

    recoverable = True


class QueueFullError(EngineError):
    """Too many requests are waiting for this model; the API answers 503 with Retry-After."""

    retryable = True

    def __init__(self, model: str, retry_after_s: float) -> None:
        super().__init__(f"queue for model {model!r} is full; retry in {retry_after_s:.0f} s")
        self.model = model
        self.retry_after_s = retry_after_s


class EngineRequestError(EngineError, ValueError):
    """The worker rejected the request itself (bad audio or options): retrying will not help."""


class ShuttingDown(EngineError):
    """The supervisor is draining: no new requests are accepted."""


class EngineFailure(EngineError):
    """The engine raised while serving the request (a bug or a bad model); the worker lives."""


class EngineTimeout(EngineError):
    """The worker did not answer in time."""

    retryable = True


class RequestCancelledError(EngineError):
    """The request was cancelled on the worker side (by a Cancel RPC from another caller)."""
