"""The engine worker process: one loaded model behind a gRPC server.

    python -m mediaserver.engines.ipc.worker --engine faster-whisper --model-dir DIR \\
        --model-name NAME --socket unix:///run/mediaserver/NAME.sock     (or --listen HOST:PORT)

`--engine` is a registered engine name or a `package.module:Factory` import path (the factory
is called with no arguments and returns the engine). The server starts before the model loads,
so the supervisor can tell "still loading" from "not started"; a load failure is reported
through Health (`load_error`) and the process exits soon after. Heavy libraries are imported
only here, by the engine, never by the runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import structlog

from mediaserver.config import LoggingSettings
from mediaserver.engines.base import ModelInfo
from mediaserver.engines.ipc.proto import engine_pb2_grpc as pb_grpc
from mediaserver.engines.ipc.servicer import SttServicer, TtsServicer, WorkerState
from mediaserver.observability import configure_logging

log = structlog.get_logger("mediaserver.engines.ipc.worker")

EXIT_LOAD_FAILED = 3
# gRPC's 4 MiB default would refuse a few minutes of audio; uploads are bounded by the API.
MAX_MESSAGE_BYTES = 2**31 - 1
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
PARENT_POLL_S = 1.0
LOAD_ERROR_LINGER_S = 5.0  # time left to the supervisor to read the load error
STOP_GRACE_S = 5.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mediaserver.engines.ipc.worker")
    parser.add_argument("--engine", required=True, help="engine name or module:Factory")
    parser.add_argument("--kind", choices=("stt", "tts"), default="stt")
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--config-json", default="{}", help="engine config from the manifest")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=1, help="engine calls at once")
    parser.add_argument("--nice", type=int, default=0, help="added to the OS niceness first")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", help="unix:///path/to/socket")
    where.add_argument("--listen", help="host:port (port 0 picks a free one)")
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this process dies")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", choices=("auto", "json", "console"), default="json")
    args = parser.parse_args(argv)
    if args.socket is not None and not args.socket.startswith("unix:"):
        parser.error("--socket must be a unix:///path address")
    if args.concurrency < 1:
        parser.error("--concurrency must be >= 1")
    return args


def create_engine(spec: str, kind: str) -> Any:
    """Build an engine from a registered name or a `module:Factory` import path."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        return factory()
    registry = importlib.import_module(f"mediaserver.engines.{kind}")
    return registry.create_engine(spec)


def build_server(engine: Any, state: WorkerState) -> grpc.aio.Server:
    server = grpc.aio.server(options=GRPC_OPTIONS)
    if state.kind == "stt":
        pb_grpc.add_SttWorkerServicer_to_server(SttServicer(engine, state), server)
    else:
        pb_grpc.add_TtsWorkerServicer_to_server(TtsServicer(engine, state), server)
    return server


async def load_model(engine: Any, state: WorkerState) -> None:
    try:
        await state.run(engine.load, state.model)
    except Exception as exc:  # any failure is reported, not raised: the worker must answer
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.error("worker.load_failed", model=state.model.name, error=state.load_error)
        return
    state.loaded = True
    log.info("worker.loaded", model=state.model.name, engine=state.model.engine)


async def watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Exit with the runtime even when it was killed and could not stop us."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            log.warning("worker.parent_gone", parent_pid=parent_pid)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARENT_POLL_S)


async def serve(args: argparse.Namespace) -> int:
    model = ModelInfo(
        name=args.model_name,
        path=args.model_dir,
        engine=args.engine,
        config=json.loads(args.config_json),
        threads=args.threads,
    )
    executor = ThreadPoolExecutor(max_workers=args.concurrency, thread_name_prefix="engine")
    state = WorkerState(model, args.kind, executor)
    engine = create_engine(args.engine, args.kind)
    server = build_server(engine, state)
    address = args.socket or args.listen
    port = server.add_insecure_port(address)
    await server.start()
    bound = address if args.socket else f"{address.rpartition(':')[0]}:{port}"
    # One line on stdout says where we listen (useful with --listen HOST:0).
    print(f"LISTENING {bound}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(watch_parent(args.parent_pid, stop)) if args.parent_pid else None

    await load_model(engine, state)
    code = 0
    if state.load_error:
        code = EXIT_LOAD_FAILED
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.load_error_reported.wait(), LOAD_ERROR_LINGER_S)
    else:
        await stop.wait()
    log.info("worker.stopping", model=model.name)
    await server.stop(STOP_GRACE_S)
    if watcher is not None:
        watcher.cancel()
    if state.loaded:
        await state.run(engine.unload)
    executor.shutdown(wait=False, cancel_futures=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # stdout carries the LISTENING line only; logs go to stderr (the parent's), rendered as the
    # parent renders its own so that one terminal never mixes JSON and console lines.
    configure_logging(LoggingSettings(level=args.log_level, format=args.log_format))
    if args.nice:
        os.nice(args.nice)  # before any thread starts: the engine's threads inherit it
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
