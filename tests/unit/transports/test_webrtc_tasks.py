"""aiortc's orphaned send tasks failing after the peer is gone are logged at debug, not dumped
as "Task exception was never retrieved"; everything else still reaches the old handler."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport

from mediaserver.transports.webrtc_tasks import is_aiortc_task_noise, quiet_aiortc_task_errors


async def aiortc_send_error() -> ConnectionError:
    """The real error: aiortc's DTLS transport asked to send while not connected."""
    dtls = RTCDtlsTransport(
        RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()]
    )
    try:
        await dtls._send_data(b"x")
    except ConnectionError as exc:
        return exc
    raise AssertionError("aiortc sent on an unconnected transport")


async def test_only_aiortc_send_errors_are_quietened() -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        quiet_aiortc_task_errors(loop)
        quiet_aiortc_task_errors(loop)  # idempotent: one wrapper
        noise = {"message": "Task exception was never retrieved",
                 "exception": await aiortc_send_error()}  # fmt: skip
        ours = {"message": "Task exception was never retrieved",
                "exception": ConnectionError("ours")}  # fmt: skip
        assert is_aiortc_task_noise(noise)
        assert not is_aiortc_task_noise(ours)
        handler = loop.get_exception_handler()
        assert handler is not None
        handler(loop, noise)
        handler(loop, ours)
    finally:
        loop.set_exception_handler(old)
    assert seen == [ours]
