"""aiortc's fire-and-forget tasks, kept out of the error log when a peer vanishes.

aiortc starts SCTP transmissions and retransmissions with `asyncio.ensure_future` and never
awaits them. When the peer is gone (a browser killed, a network dropped) the ones still pending
fail with `ConnectionError("Cannot send encrypted data, not connected")`, and asyncio reports
each as "Task exception was never retrieved" with a traceback: noise about an outcome the call
already handles (it ends). This loop exception handler logs exactly those at debug and hands
everything else to the handler that was there before.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

import structlog

log = structlog.get_logger("mediaserver.transports.webrtc")

_MARK = "_mediaserver_quiet_aiortc"


def _from_aiortc(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and any("/aiortc/" in frame.filename for frame in frames[-3:])


def is_aiortc_task_noise(context: dict[str, Any]) -> bool:
    exc = context.get("exception")
    return (
        isinstance(exc, ConnectionError)
        and context.get("message") == "Task exception was never retrieved"
        and _from_aiortc(exc)
    )


def quiet_aiortc_task_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Install the filter on `loop` once; other exceptions still reach the previous handler."""
    previous = loop.get_exception_handler()
    if previous is not None and getattr(previous, _MARK, False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if is_aiortc_task_noise(context):
            log.debug("webrtc.peer_gone_send_failed", error=str(context["exception"]))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    setattr(handler, _MARK, True)
    loop.set_exception_handler(handler)
