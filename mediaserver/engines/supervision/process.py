"""Starting a worker process: its command line, environment and the LISTENING handshake."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import mediaserver
from mediaserver.engines.supervision.spec import SupervisorOptions, WorkerSpec

# Workers run the same mediaserver package as this process, installed or not.
PACKAGE_ROOT = str(Path(mediaserver.__file__).resolve().parent.parent)


class WorkerExitedEarly(Exception):
    """The process exited, or said nothing, before it listened on its address."""


def socket_name(model: str, generation: int) -> str:
    """A short, safe file name (Unix socket paths are limited to ~107 bytes)."""
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', model)[:40]}-{os.getpid()}-{generation}.sock"


def worker_command(spec: WorkerSpec, options: SupervisorOptions, address: str) -> list[str]:
    return [
        options.python, "-m", "mediaserver.engines.ipc.worker",
        "--engine", spec.engine,
        "--kind", spec.kind,
        "--model-dir", str(spec.model_dir),
        "--model-name", spec.model,
        "--config-json", json.dumps(dict(spec.config)),
        "--threads", str(spec.threads),
        "--concurrency", str(spec.concurrency),
        "--nice", str(spec.nice),
        "--socket", address,
        "--parent-pid", str(os.getpid()),
        "--log-level", options.log_level,
        "--log-format", options.log_format,
    ]  # fmt: skip


async def spawn_worker(
    spec: WorkerSpec, options: SupervisorOptions, address: str
) -> asyncio.subprocess.Process:
    """Start a worker on a Unix socket address and wait until it listens there."""
    env = dict(os.environ)  # passed through to the child, not read
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    proc = await asyncio.create_subprocess_exec(
        *worker_command(spec, options, address),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(options.start_timeout_s):
            line = await proc.stdout.readline()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise WorkerExitedEarly("worker did not start listening in time") from None
    except BaseException:  # cancelled (a stop while starting): the caller never sees `proc`
        proc.kill()
        await proc.wait()
        raise
    if not line.startswith(b"LISTENING "):
        code = await proc.wait()
        raise WorkerExitedEarly(f"worker exited with code {code} before listening")
    return proc


async def drain_stdout(proc: asyncio.subprocess.Process) -> None:
    """Keep reading the worker's stdout so that a chatty library can never block it."""
    assert proc.stdout is not None
    while await proc.stdout.read(65536):
        pass
