"""Structured logging and Prometheus metrics.

Log events are static strings with fields; no field ever carries personal data (caller
numbers, DTMF digits, transcripts, entity values). Metrics live in one registry owned here so
that tests and several app instances in one process do not collide.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Final, TextIO

import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from mediaserver.config import LoggingSettings

METRIC_PREFIX = "mediaserver"
# Live transcription latencies: the target is a final within 0.5 s, minutes means overload.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0)

# One `_created` timestamp series per counter and histogram child doubles the output and nobody
# graphs them (Prometheus ignores them unless asked); process-wide, like the client's default.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream


# What libraries log at debug (uvicorn, websockets) includes the API key (Authorization header,
# `api-key.KEY` subprotocol, `?api_key=` on WebSocket URLs, the last one even at info) and the
# payload of every WebSocket frame (TTS text, hot words, transcripts). Every string of every
# record, ours and theirs, goes through these before it is rendered.
_SCRUBS: Final = (
    # A frame as websockets prints it: `TEXT '{...}' [62 bytes]`; the size is kept.
    (re.compile(r"\b(TEXT|BINARY|CONT)\s.*(\[\d+ bytes[^\]]*\])", re.DOTALL), r"\1 <redacted> \2"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s,;'\"]+"), r"\1 <redacted>"),
    (re.compile(r"(?i)\bapi-key\.[^\s,;'\"]+"), "api-key.<redacted>"),
    (re.compile(r"(?i)([?&]api_key=)[^&\s'\"]*"), r"\1<redacted>"),
    (
        re.compile(r"(?im)^([<>] )?(authorization|proxy-authorization|cookie|x-api-key)\s*:.*$"),
        r"\1\2: <redacted>",
    ),
)


def scrub(text: str) -> str:
    """`text` with secrets and WebSocket payloads replaced by `<redacted>`."""
    for pattern, replacement in _SCRUBS:
        text = pattern.sub(replacement, text)
    return text


def scrub_event(
    logger: object, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: `scrub` on every string field (the message of a library record is
    its `event`)."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub(value)
    return event_dict


class _Stderr:
    """sys.stderr looked up at each write, so a replaced stderr (tests, daemons) is followed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(settings: LoggingSettings, stream: TextIO | None = None) -> None:
    """Route structlog (and stdlib logging) to one renderer: JSON lines or console."""
    out: TextIO = stream if stream is not None else _Stderr()  # type: ignore[assignment]
    level = logging.getLevelNamesMapping().get(settings.level.upper())
    if level is None:
        raise ValueError(f"unknown log level {settings.level!r}")
    use_json = settings.format == "json" or (settings.format == "auto" and not out.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            scrub_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Records from libraries (uvicorn, NeMo, faster-whisper) get the same renderer, so a
    # production log is JSON lines throughout.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                scrub_event,
            ],
        )
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # A library that configured logging itself (dictConfig disables the loggers that existed,
    # uvicorn's default config stops its records at its own handler) must not silence ours or
    # keep its records from this handler.
    logging.disable(logging.NOTSET)
    for logger in logging.root.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False


class Metrics:
    """Every Prometheus metric of the server, in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        p = METRIC_PREFIX
        self.http_requests = Counter(
            f"{p}_http_requests_total", "HTTP requests", ["route", "status"], registry=r
        )
        self.hot_word_hits = Counter(
            f"{p}_hot_word_hits_total", "Words replaced by a configured hot word", registry=r
        )
        self.itn_failures = Counter(
            f"{p}_itn_failures_total",
            "Sentences where the NeMo normalizer failed and the fallback pass was used",
            registry=r,
        )
        self.stt_muted_frames = Counter(
            f"{p}_stt_muted_frames_total",
            "Input frames not fed to VAD/STT while the call speaks",
            registry=r,
        )
        self.audiosocket_connections = Counter(
            f"{p}_audiosocket_connections_total", "AudioSocket TCP connections accepted", registry=r
        )
        self.audiosocket_protocol_errors = Counter(
            f"{p}_audiosocket_protocol_errors_total",
            "AudioSocket connections closed for breaking the framing",
            registry=r,
        )
        self.audiosocket_refused = Counter(
            f"{p}_audiosocket_refused_total",
            "AudioSocket connections refused (duplicate call id, draining, call limit)",
            registry=r,
        )
        self.audiosocket_rate_limited = Counter(
            f"{p}_audiosocket_rate_limited_total",
            "Times an AudioSocket peer sent audio faster than allowed (session.rate_limit)",
            registry=r,
        )
        self.audiosocket_frames_dropped = Counter(
            f"{p}_audiosocket_frames_dropped_total",
            "AudioSocket audio frames dropped beyond the backlog limit",
            registry=r,
        )
        self.realtime_sessions = Counter(
            f"{p}_realtime_sessions_total", "WebSocket realtime sessions opened", registry=r
        )
        self.realtime_bad_messages = Counter(
            f"{p}_realtime_bad_messages_total",
            "WebSocket realtime messages rejected (bad JSON, unknown type, bad audio frame)",
            registry=r,
        )
        self.realtime_rate_limited = Counter(
            f"{p}_realtime_rate_limited_total",
            "Times a WebSocket client was told it sends audio faster than allowed",
            registry=r,
        )
        self.realtime_frames_dropped = Counter(
            f"{p}_realtime_frames_dropped_total",
            "WebSocket audio frames dropped beyond the backlog limit",
            registry=r,
        )
        self.tts_cache_hits = Counter(
            f"{p}_tts_cache_hits_total", "TTS prompts served from the audio cache", registry=r
        )
        self.tts_cache_misses = Counter(
            f"{p}_tts_cache_misses_total", "TTS prompts synthesized (not in the cache)", registry=r
        )
        self.tts_cache_entries = Gauge(
            f"{p}_tts_cache_entries", "Utterances held in the TTS audio cache", registry=r
        )
        self.postprocess_seconds = Histogram(
            f"{p}_postprocess_seconds",
            "Post-processing time per final segment",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=r,
        )
        # Read from the workers' health pings (every few seconds), per model.
        self.finals_hurried = Counter(
            f"{p}_stt_finals_hurried_total",
            "Live finals decoded with greedy search because other finals were waiting",
            ["model"],
            registry=r,
        )
        self.partials_skipped = Counter(
            f"{p}_stt_partials_skipped_total",
            "Live partials not decoded because they went stale waiting for the engine",
            ["model"],
            registry=r,
        )
        self.worker_restarts = Counter(
            f"{p}_worker_restarts_total",
            "Engine worker restarts after a crash or an unresponsive/oversized worker was killed",
            ["model"],
            registry=r,
        )
        self.scheduler_queue_wait = Histogram(
            f"{p}_scheduler_queue_wait_seconds",
            "Time a request waited for a worker slot",
            ["priority"],
            buckets=(0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.scheduler_queue_depth = Gauge(
            f"{p}_scheduler_queue_depth",
            "Requests waiting for a worker slot",
            ["model", "priority"],
            registry=r,
        )
        self.calls_started = Counter(
            f"{p}_calls_started_total", "Calls created, by transport", ["transport"], registry=r
        )
        self.calls_active = Gauge(f"{p}_calls_active", "Calls not yet closed", registry=r)
        self.call_events_dropped = Counter(
            f"{p}_call_events_dropped_total",
            "Call events a slow subscriber lost (its queue was full)",
            registry=r,
        )
        self.final_seconds = Histogram(
            f"{p}_final_latency_seconds",
            "From vad.speech_end to the segment's transcript.final (server loop clock)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_partial_seconds = Histogram(
            f"{p}_first_partial_latency_seconds",
            "From vad.speech_start to the utterance's first transcript.partial (server loop clock)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.finals_lost = Counter(
            f"{p}_finals_lost_total",
            "Segments whose final never came: closing_timeout, call_failed, audio_overrun",
            ["reason"],
            registry=r,
        )
        self.vad_tick_seconds = Histogram(
            f"{p}_vad_tick_seconds",
            "One VAD tick: a batched Silero inference for every call fed since the last one",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
            registry=r,
        )
        self.rtp_packets = Counter(
            f"{p}_rtp_packets_total",
            "RTP packets of ended calls by outcome: received, played, lost, rejected, "
            "malformed, late, duplicate, reordered, discarded (jitter buffer over capacity or "
            "shrinking its delay)",
            ["outcome"],
            registry=r,
        )
        self.rtp_concealed_seconds = Counter(
            f"{p}_rtp_concealed_seconds_total",
            "Audio of ended RTP calls synthesised for packets missing inside the stream (loss "
            "concealment; not the silence after the sender stopped)",
            registry=r,
        )
        self.rtp_ports_in_use = Gauge(
            f"{p}_rtp_ports_in_use", "UDP ports held by RTP calls", registry=r
        )
        self.api_errors = Counter(
            f"{p}_api_errors_total", "API error responses, by error code", ["code"], registry=r
        )
        self.transcription_requests = Counter(
            f"{p}_transcription_requests_total",
            "Batch transcriptions and translations (REST), by task and outcome",
            ["task", "outcome"],
            registry=r,
        )
        self.transcription_audio_seconds = Counter(
            f"{p}_transcription_audio_seconds_total",
            "Seconds of audio transcribed in batch",
            ["model"],
            registry=r,
        )
        self.transcription_rtf = Histogram(
            f"{p}_transcription_real_time_factor",
            "Batch transcription time divided by audio duration (decode to response)",
            ["model"],
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5),
            registry=r,
        )
