"""One typed settings object for the whole server.

Sources, later ones win: the defaults below (mirrored in ``conf/mediaserver.toml``), a TOML file
(``--config FILE`` or ``MEDIASERVER_CONFIG``), then ``MEDIASERVER_<SECTION>__<KEY>`` environment
variables. ``MEDIASERVER_MODELS_DIR`` and ``MEDIASERVER_API_KEYS`` are accepted as short forms.

The settings object is built once at start-up and passed down; nothing below this module reads
the environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mediaserver.config_sources import ENV_PREFIX as ENV_PREFIX
from mediaserver.config_sources import ConfigError as ConfigError
from mediaserver.config_sources import build, env_layer, merge, read_toml

# A language code as calls give it ("pt", "pt-BR"); engines use the part before the region.
LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?")
Sensitivity = Literal["high", "normal", "low"]
LogFormat = Literal["auto", "json", "console"]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    # Listening on a non-loopback address without API keys needs this set explicitly.
    insecure: bool = False
    api_keys: tuple[str, ...] = ()
    # How long active calls may run on after SIGTERM before they are closed.
    drain_timeout_s: float = 30.0
    # After SIGTERM, keep serving (with /ready 503) at least this long so load balancers notice.
    drain_grace_s: float = 0.0
    max_upload_bytes: int = 25 * 1024 * 1024
    # Audio one upload may decode to, summed over the channels transcribed. It bounds memory:
    # 2 h is 230 MB of 16 kHz PCM16 held while the file is transcribed (longer than any call
    # recording we serve; a longer file can be split by the client).
    max_audio_duration_s: float = 2 * 3600.0
    max_decode_s: float = 600.0  # wall-clock budget for decoding one uploaded file
    # Address space of the child process that decodes one upload (its imports take ~250 MB).
    decode_memory_mb: int = 1024


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: str = "info"
    # auto: console renderer when stderr is a terminal, JSON lines otherwise.
    format: LogFormat = "auto"


@dataclass(frozen=True, slots=True)
class ModelsSettings:
    # Empty means "<user cache dir>/mediaserver/models" (XDG_CACHE_HOME honoured).
    dir: str = ""
    # Seconds an idle model stays loaded; 0 keeps models loaded forever.
    auto_unload_s: float = 300.0
    default_stt: str = "faster-whisper-small"
    default_tts: str = "espeak-ng"
    # Requests one worker serves at once. A call's STT stream holds its slot for a whole
    # utterance while using the engine a few ms per 100 ms chunk, hence many; TTS requests
    # take turns clause by clause inside the engine.
    stt_concurrency: int = 16
    tts_concurrency: int = 4
    # File transcriptions (uploads, jobs) run in a second worker per STT model at this OS
    # niceness, so a live call's final never waits behind or shares the CPU evenly with a
    # long file (final p50 beside 2 jobs: 3.6 s in one shared worker). Costs a second copy of
    # the weights while files are being transcribed. -1: one worker serves both (a GPU with
    # room for one copy; live calls then keep only queue priority).
    batch_worker_nice: int = 19

    @property
    def path(self) -> Path:
        return Path(self.dir).expanduser()


@dataclass(frozen=True, slots=True)
class AudioSettings:
    dc_remove: bool = True
    gain_normalize: bool = True
    # Peak level the gain stage steers speech toward.
    target_peak_dbfs: float = -3.0
    max_gain_db: float = 20.0
    denoise: bool = False


@dataclass(frozen=True, slots=True)
class VadSettings:
    sensitivity: Sensitivity = "normal"
    min_speech_ms: int = 250
    min_silence_ms: int = 500
    speech_pad_ms: int = 200


@dataclass(frozen=True, slots=True)
class SessionSettings:
    init_timeout_s: float = 30.0
    silence_timeout_s: float = 30.0
    hold_timeout_s: float = 300.0
    # How long a closing call waits for the finals still being computed (a caller's last
    # words before hanging up); past it each missing one is reported as `final_lost`.
    closing_timeout_s: float = 15.0
    ring_buffer_s: float = 60.0
    # Committing starts once the ring buffer is this full without a commit.
    force_commit_ratio: float = 0.9
    # The language of calls that name none (AudioSocket cannot name one); "" = detect it.
    language: str = ""


@dataclass(frozen=True, slots=True)
class RtpSettings:
    enabled: bool = True
    bind_host: str = "127.0.0.1"
    # The address put in call answers; empty means bind_host.
    public_host: str = ""
    port_min: int = 40000
    port_max: int = 40999
    media_timeout_s: float = 60.0
    # Valid in-sequence packets from one source before the call locks onto it.
    latch_packets: int = 3
    # After the first latch, another qualified stream may still take the call over this long
    # (only if the latched one went quiet; see transports/rtp/latch.py). Asterisk: 5 s.
    latch_probation_s: float = 5.0
    allowed_sources: tuple[str, ...] = ()
    jitter_delay_ms: int = 60
    # Media the jitter buffer holds ahead of playout: senders that burst (ffmpeg -re sends a
    # file's reads at once, WAN stalls release a queue) are absorbed up to this much.
    jitter_capacity_ms: int = 1000


@dataclass(frozen=True, slots=True)
class AudioSocketSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9092


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    ping_interval_s: float = 10.0
    pong_timeout_s: float = 5.0
    max_message_bytes: int = 64 * 1024
    # Backpressure: above this send rate (x real time) the client is told to slow down.
    rate_limit_factor: float = 1.2
    max_backlog_s: float = 10.0


@dataclass(frozen=True, slots=True)
class PostprocessSettings:
    itn: bool = True
    entities: bool = True
    redact: bool = False
    hot_words: tuple[str, ...] = ()
    nemo: bool = True  # NeMo for spoken cardinals; false: the built-in rules only


@dataclass(frozen=True, slots=True)
class TtsSettings:
    default_voice: str = "pt-br"
    cache_entries: int = 256
    cache_max_mb: int = 64  # synthesized audio kept for repeated prompts
    warmup_phrases: tuple[str, ...] = ("Olá", "Um momento, por favor")


@dataclass(frozen=True, slots=True)
class JobsSettings:
    """Asynchronous transcription jobs (`/v1/jobs`), kept in a SQLite database."""

    enabled: bool = True
    # Empty means "<user cache dir>/mediaserver/jobs": the database and the jobs' audio.
    dir: str = ""
    # Jobs decoded at once. Live calls keep priority at the engine either way; this bounds
    # the memory and the worker slots that jobs hold.
    concurrency: int = 1
    max_queued: int = 10000
    # Audio fetched from a job's `url`.
    url_max_bytes: int = 512 * 1024 * 1024
    url_timeout_s: float = 120.0
    webhook_attempts: int = 6
    webhook_backoff_s: float = 2.0  # then 4, 8, 16 ... seconds
    webhook_timeout_s: float = 10.0
    keep_audio: bool = False  # keep a finished job's audio on disk

    @property
    def path(self) -> Path:
        return Path(self.dir).expanduser()


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    vad: VadSettings = field(default_factory=VadSettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    rtp: RtpSettings = field(default_factory=RtpSettings)
    audiosocket: AudioSocketSettings = field(default_factory=AudioSocketSettings)
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)
    postprocess: PostprocessSettings = field(default_factory=PostprocessSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)




def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from defaults, an optional TOML file and the environment."""
    env = os.environ if environ is None else environ
    layers: dict[str, dict[str, Any]] = {}
    path = config_file if config_file is not None else env.get("MEDIASERVER_CONFIG")
    if path:
        merge(layers, read_toml(Path(path)))
    merge(layers, env_layer(env))
    settings: Settings = build(Settings, layers, "")
    if not settings.models.dir:
        cache = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")) / ".cache")
        models = dataclasses.replace(
            settings.models, dir=str(Path(cache).expanduser() / "mediaserver" / "models")
        )
        settings = dataclasses.replace(settings, models=models)
    if not settings.jobs.dir:
        cache = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")) / ".cache")
        jobs = dataclasses.replace(
            settings.jobs, dir=str(Path(cache).expanduser() / "mediaserver" / "jobs")
        )
        settings = dataclasses.replace(settings, jobs=jobs)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    checks: list[tuple[bool, str]] = [
        (0 < s.server.port < 65536, "server.port must be 1..65535"),
        (s.server.max_upload_bytes > 0, "server.max_upload_bytes must be positive"),
        (s.server.decode_memory_mb >= 256, "server.decode_memory_mb must be at least 256"),
        (s.server.drain_timeout_s >= 0, "server.drain_timeout_s must be >= 0"),
        (s.server.drain_grace_s >= 0, "server.drain_grace_s must be >= 0"),
        (
            all(key and key == key.strip() for key in s.server.api_keys),
            "server.api_keys entries must be non-empty, without surrounding spaces",
        ),
        (s.models.auto_unload_s >= 0, "models.auto_unload_s must be >= 0 (0 = never)"),
        (s.models.stt_concurrency >= 1, "models.stt_concurrency must be >= 1"),
        (-1 <= s.models.batch_worker_nice <= 19, "models.batch_worker_nice must be -1..19"),
        (s.models.tts_concurrency >= 1, "models.tts_concurrency must be >= 1"),
        (
            1024 <= s.rtp.port_min <= s.rtp.port_max < 65536,
            "rtp.port_min..rtp.port_max must be a range within 1024..65535",
        ),
        (s.rtp.latch_packets >= 1, "rtp.latch_packets must be >= 1"),
        (0 < s.rtp.jitter_delay_ms <= 1000, "rtp.jitter_delay_ms must be in 1..1000"),
        (
            max(200, s.rtp.jitter_delay_ms) <= s.rtp.jitter_capacity_ms <= 10_000,
            "rtp.jitter_capacity_ms must be in 200..10000 and >= rtp.jitter_delay_ms",
        ),
        (0 <= s.rtp.latch_probation_s <= 60, "rtp.latch_probation_s must be in 0..60"),
        (0 < s.audiosocket.port < 65536, "audiosocket.port must be 1..65535"),
        (s.session.ring_buffer_s >= 5, "session.ring_buffer_s must be >= 5"),
        (0.5 <= s.session.force_commit_ratio < 1, "session.force_commit_ratio must be in [0.5, 1)"),
        (
            s.session.language == "" or LANGUAGE_RE.fullmatch(s.session.language) is not None,
            "session.language must be a code like 'pt' or 'pt-BR', or empty (detect)",
        ),
        (s.session.closing_timeout_s > 0, "session.closing_timeout_s must be > 0"),
        (s.vad.min_speech_ms >= 0 and s.vad.min_silence_ms >= 0, "vad durations must be >= 0"),
        (s.audio.max_gain_db >= 0, "audio.max_gain_db must be >= 0"),
        (s.tts.cache_entries >= 0 and s.tts.cache_max_mb >= 0, "tts cache sizes must be >= 0"),
        (s.jobs.concurrency >= 1, "jobs.concurrency must be >= 1"),
        (s.jobs.max_queued >= 1, "jobs.max_queued must be >= 1"),
        (s.jobs.url_max_bytes > 0 and s.jobs.url_timeout_s > 0, "jobs url limits must be > 0"),
        (s.jobs.webhook_attempts >= 1, "jobs.webhook_attempts must be >= 1"),
        (
            s.jobs.webhook_backoff_s >= 0 and s.jobs.webhook_timeout_s > 0,
            "jobs webhook back-off must be >= 0 and its timeout > 0",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def settings_as_dict(settings: Settings) -> dict[str, Any]:
    """The settings as plain data (for `inspect`-style output and the TOML mirror test)."""
    return dataclasses.asdict(settings)
