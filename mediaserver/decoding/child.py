"""`python -m mediaserver.decoding.child`: decode one file under OS limits, stream PCM16 out.

Started by `sandbox.DecodeSandbox`, possibly ahead of need (a warm spare that has already paid
for its imports); it blocks on the request line, which the trusted parent writes. The limits go
on before the first untrusted byte is read: address space (a decoder's runaway allocation ends
in MemoryError or death here, not in the server), CPU time (SIGXCPU ends a decoder spinning on
a crafted file) and no core files. The protocol is in `wire`.
"""

from __future__ import annotations

import math
import resource
import sys
from typing import IO

from mediaserver.audio.decode import (
    AudioDecodeError,
    AudioLimitError,
    ChannelSelect,
    DecodeLimits,
    open_decode,
    to_dtype,
)
from mediaserver.decoding import wire

_MAX_REQUEST_LINE = 64 * 1024
# Audio leaves in pieces of ~8 s (16 kHz mono): a few wake-ups of the server per minute of
# audio rather than one per decoded frame, and far below wire.MAX_FRAME_BYTES.
_BATCH_BYTES = 256 * 1024


def apply_limits(request: wire.Request) -> None:
    cpu_s = math.ceil(request.max_decode_s) + 1
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (request.memory_bytes, request.memory_bytes))


def _channels(value: str | int) -> ChannelSelect:
    if value == "mix":
        return "mix"
    if value == "all":
        return "all"
    if isinstance(value, int):
        return value
    raise ValueError(f"bad channel selection {value!r}")


def decode(request: wire.Request, stdin: IO[bytes], out: IO[bytes]) -> None:
    """Decode the requested file to `out` as wire frames; AudioDecodeError for a bad file."""
    if request.path is not None:
        source: bytes | str = request.path
    else:
        source = stdin.read(request.input_bytes)
        if len(source) != request.input_bytes:
            raise AudioDecodeError("the upload was cut short")
    limits = DecodeLimits(
        max_duration_s=request.max_duration_s,
        max_decode_s=request.max_decode_s,
        max_channels=request.max_channels,
    )
    with open_decode(
        source, sample_rate=request.sample_rate, channels=_channels(request.channels),
        limits=limits,
    ) as run:  # fmt: skip
        info = run.info
        out.write(wire.json_frame(wire.INFO, {
            "source_rate": info.source_rate, "source_channels": info.source_channels,
            "rows": info.rows, "codec": info.codec, "container": info.container,
        }))  # fmt: skip
        pending = bytearray()
        for chunk in run.chunks():
            # (rows, frames) -> interleaved little-endian PCM16, the parent's layout.
            pending += to_dtype(chunk, "int16").T.astype("<i2").tobytes()
            if len(pending) >= _BATCH_BYTES:
                out.write(wire.frame(wire.AUDIO, bytes(pending)))
                pending.clear()
        if pending:
            out.write(wire.frame(wire.AUDIO, bytes(pending)))
        out.write(wire.json_frame(wire.DONE, {"corrupt_packets": run.corrupt_packets}))


def serve(stdin: IO[bytes], out: IO[bytes]) -> int:
    line = stdin.readline(_MAX_REQUEST_LINE)
    if not line:
        return 0  # a spare whose parent went away or closed it unused
    request = wire.Request.decode(line)
    apply_limits(request)
    try:
        decode(request, stdin, out)
    except AudioDecodeError as exc:
        limit = isinstance(exc, AudioLimitError)
        out.write(wire.json_frame(wire.ERROR, {"reason": exc.reason, "limit": limit}))
    except MemoryError:
        mib = request.memory_bytes // 2**20
        reason = f"decoding this file needs more than the {mib} MiB allowed"
        out.write(wire.json_frame(wire.ERROR, {"reason": reason, "limit": True}))
    except Exception as exc:  # a codec failing on crafted bytes in a way PyAV does not wrap
        reason = f"not a readable audio file ({type(exc).__name__})"
        out.write(wire.json_frame(wire.ERROR, {"reason": reason, "limit": False}))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.stdin.buffer, sys.stdout.buffer))
