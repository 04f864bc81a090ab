"""The server's side of the decode boundary: spawn, feed, count, kill.

Each file gets a fresh child (nothing one upload does can leak into the next); once a server has
decoded its first file, one spare child is kept started so that its interpreter and imports
(~0.2 s) are paid before the next request needs it (not at start-up: a server that never gets
an upload never pays for one).
The parent enforces the bounds again on what it receives, so even a child gone wrong cannot
grow the server: decoded PCM is counted as it arrives and the child is killed the moment it
passes `max_duration_s` of audio (summed over the channels decoded), or runs past the wall-clock
budget. A child that dies (a codec crash, SIGXCPU, an allocation refused) costs its request a
4xx; the server only logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import structlog

import mediaserver
from mediaserver.audio.decode import (
    AudioDecodeError,
    AudioLimitError,
    ChannelSelect,
    DecodedAudio,
    DecodeLimits,
)
from mediaserver.audio.events import PIPELINE_RATE
from mediaserver.config import ServerSettings
from mediaserver.decoding import wire

log = structlog.get_logger("mediaserver.decoding")

PACKAGE_ROOT = str(Path(mediaserver.__file__).resolve().parent.parent)
# Past the child's own decode budget: time to report its error before it is killed.
_KILL_AFTER_S = 5.0
_FEED_CHUNK = 1024 * 1024
# What the child may lose to a signal, and what that tells the client.
_CPU_SIGNALS = (signal.SIGXCPU, signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    decode: DecodeLimits = field(default_factory=DecodeLimits)
    memory_bytes: int = 1024 * 1024 * 1024  # the child's address space (imports take ~250 MB)
    max_input_bytes: int = 25 * 1024 * 1024  # bytes fed to one child through its stdin

    @classmethod
    def from_settings(cls, server: ServerSettings) -> SandboxLimits:
        return cls(
            decode=DecodeLimits(
                max_duration_s=server.max_audio_duration_s, max_decode_s=server.max_decode_s
            ),
            memory_bytes=server.decode_memory_mb * 1024 * 1024,
            max_input_bytes=server.max_upload_bytes,
        )


class DecodeSandbox:
    """Decodes untrusted files in child processes, `max_running` at a time."""

    def __init__(
        self, limits: SandboxLimits, *, spare: bool = True, max_running: int | None = None
    ) -> None:
        self.limits = limits
        self._keep_spare = spare
        self._spare: asyncio.subprocess.Process | None = None
        self._running = asyncio.Semaphore(max_running or max(2, os.cpu_count() or 2))

    async def start(self) -> None:
        """Start the spare now rather than after the first decode."""
        if self._keep_spare and self._spare is None:
            self._spare = await _spawn()

    async def aclose(self) -> None:
        self._keep_spare = False  # a decode still running must not start a new one
        spare, self._spare = self._spare, None
        if spare is not None:
            await _stop(spare)

    async def decode(
        self,
        source: IO[bytes] | Path,
        *,
        channels: ChannelSelect = "mix",
        sample_rate: int = PIPELINE_RATE,
    ) -> DecodedAudio:
        """Decode a binary file object (sent through a pipe) or a local path (opened by the
        child) to (rows, frames) int16 PCM. AudioLimitError (413) when a bound is passed,
        AudioDecodeError (400) for what is not decodable audio."""
        limits = self.limits
        decode = limits.decode
        request = wire.Request(
            sample_rate=sample_rate,
            channels=channels,
            max_duration_s=decode.max_duration_s,
            max_decode_s=decode.max_decode_s,
            max_channels=decode.max_channels,
            memory_bytes=limits.memory_bytes,
        )
        size = 0
        if not isinstance(source, Path):
            size = _size(source)
            if size > limits.max_input_bytes:
                raise AudioLimitError(f"file larger than {limits.max_input_bytes} bytes")
            if size == 0:
                raise AudioDecodeError("empty input")
            request = dataclasses.replace(request, input_bytes=size)
        else:
            request = dataclasses.replace(request, path=str(source))
        async with self._running:
            proc = await self._take()
            try:
                async with asyncio.timeout(decode.max_decode_s + _KILL_AFTER_S):
                    return await self._exchange(proc, request, source, sample_rate)
            except TimeoutError:
                raise AudioLimitError(
                    f"decoding took longer than {decode.max_decode_s:g} s"
                ) from None
            finally:
                await _stop(proc)
                await self._replace_spare()

    async def _take(self) -> asyncio.subprocess.Process:
        spare, self._spare = self._spare, None
        if spare is not None:
            if spare.returncode is None:
                return spare
            await _stop(spare)  # reap it
        return await _spawn()

    async def _replace_spare(self) -> None:
        # After the decode, not at its start: the new child's imports (~0.2 s of CPU) must not
        # compete with the decode the request is waiting for.
        if self._keep_spare and self._spare is None:
            self._spare = await _spawn()

    async def _exchange(
        self,
        proc: asyncio.subprocess.Process,
        request: wire.Request,
        source: IO[bytes] | Path,
        sample_rate: int,
    ) -> DecodedAudio:
        assert proc.stdin is not None
        assert proc.stdout is not None
        feeder = asyncio.create_task(_feed(proc.stdin, request, source))
        try:
            return await _collect(proc, proc.stdout, request, sample_rate)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await feeder


async def _spawn() -> asyncio.subprocess.Process:
    env = dict(os.environ)  # passed through to the child, not read
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    # One decode thread: BLAS/OpenMP pools would only add address space under the limit.
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mediaserver.decoding.child",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )  # fmt: skip


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await proc.wait()


def _size(file: IO[bytes]) -> int:
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(0)
    return size


async def _feed(stdin: asyncio.StreamWriter, request: wire.Request, source: object) -> None:
    """The request line, then the file (a pipe: the child never sees the server's files)."""
    stdin.write(request.encode())
    if request.input_bytes:
        assert not isinstance(source, Path)
        file: IO[bytes] = source  # type: ignore[assignment]
        left = request.input_bytes
        while left > 0:
            chunk = await asyncio.to_thread(file.read, min(_FEED_CHUNK, left))
            if not chunk:
                break
            stdin.write(chunk)
            left -= len(chunk)
            await stdin.drain()
    await stdin.drain()
    stdin.close()


async def _collect(
    proc: asyncio.subprocess.Process,
    stdout: asyncio.StreamReader,
    request: wire.Request,
    sample_rate: int,
) -> DecodedAudio:
    """Read the child's frames into PCM, counting every byte against the duration bound."""
    max_bytes = int(request.max_duration_s * sample_rate) * 2
    pcm = bytearray()
    info: dict[str, Any] | None = None
    while True:
        try:
            kind, length = wire.parse_header(await stdout.readexactly(wire.HEADER.size))
            payload = await stdout.readexactly(length)
        except asyncio.IncompleteReadError:
            raise await _died(proc) from None
        except ValueError as exc:  # not our protocol: whatever the file made of the child
            log.error("decode.child_garbled", error=str(exc))
            raise AudioDecodeError(
                "the audio decoder failed on this file (garbled output)"
            ) from None
        if kind == wire.AUDIO:
            if len(pcm) + len(payload) > max_bytes:
                limit = request.max_duration_s
                raise AudioLimitError(f"audio longer than the limit of {limit:g} s")
            pcm += payload
        elif kind == wire.INFO:
            info = wire.json_body(payload)
        elif kind == wire.ERROR:
            error = wire.json_body(payload)
            cls = AudioLimitError if error.get("limit") else AudioDecodeError
            raise cls(str(error.get("reason", "not a readable audio file")))
        else:
            if info is None:
                raise AudioDecodeError("the decoder sent no stream information")
            done = wire.json_body(payload)
            return _decoded(pcm, info, sample_rate, int(done.get("corrupt_packets", 0)))


def _decoded(pcm: bytearray, info: dict[str, Any], rate: int, corrupt: int) -> DecodedAudio:
    rows = int(info["rows"])
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16, copy=False)
    if rows == 1:
        shaped = samples.reshape(1, -1)
    else:  # interleaved -> one contiguous row per channel (the batch path walks each row)
        shaped = np.ascontiguousarray(samples.reshape(-1, rows).T)
    return DecodedAudio(
        samples=shaped,
        sample_rate=rate,
        source_rate=int(info["source_rate"]),
        source_channels=int(info["source_channels"]),
        codec=str(info["codec"]),
        container=str(info["container"]),
        corrupt_packets=corrupt,
    )


async def _died(proc: asyncio.subprocess.Process) -> AudioDecodeError:
    """Why the child stopped talking: a signal is a limit (CPU) or a decoder crash."""
    code = await proc.wait()
    if code < 0 and -code in _CPU_SIGNALS:
        return AudioLimitError("decoding this file took more CPU time than allowed")
    try:
        name = signal.Signals(-code).name if code < 0 else f"exit status {code}"
    except ValueError:
        name = f"signal {-code}"
    log.error("decode.child_died", status=name)
    return AudioDecodeError(f"the audio decoder failed on this file ({name})")
