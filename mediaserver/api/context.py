"""The one way a route reaches the server's services."""

from __future__ import annotations

from typing import cast

from starlette.requests import HTTPConnection

from mediaserver.api.errors import ApiError
from mediaserver.calls.call import Call
from mediaserver.runtime import Runtime


def runtime_of(conn: HTTPConnection) -> Runtime:
    """The `Runtime` that `create_app` attached to the application (requests and sockets)."""
    runtime = getattr(conn.app.state, "runtime", None)
    if runtime is None:
        raise RuntimeError("the application has no runtime (build it with create_app)")
    # Not an isinstance check: tests mount the routes on a runtime made of fakes.
    return cast(Runtime, runtime)


def call_of(conn: HTTPConnection) -> Call:
    """The live call named by the route's `{call_id}`; 404 `call_not_found` otherwise."""
    call_id = conn.path_params["call_id"]
    try:
        return runtime_of(conn).calls.get(call_id)
    except KeyError:
        raise ApiError(
            404, "call_not_found", f"no active call with id {call_id!r}", param="id"
        ) from None
