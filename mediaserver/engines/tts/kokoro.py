"""Kokoro-82M from a local model directory: the neural voice (24 kHz).

A model directory holds `config.json`, the weights (`kokoro-v1_0.pth`: one state dict per
sub-network) and `voices/<name>.pt` style packs (`[510, 1, 256]`: one style vector per phoneme
count). Portuguese goes through misaki's espeak-ng phonemizer (lang_code "p"), so no spaCy and
no English lexicon are needed.

Nothing here may reach the network: the config, the weights and every voice are given to
kokoro as local paths or tensors (kokoro only calls the Hugging Face hub for what it is not
given), `repo_id` is passed only as a label, and HF_HUB_OFFLINE is set before kokoro is first
imported so that a future kokoro that looks anyway fails fast instead of hanging on a closed
network.

Kokoro renders a whole utterance in one forward pass, so text is synthesized clause by clause
and each clause is yielded as soon as it is ready. One engine serializes its clauses with a
lock: misaki's phonemizer (a ctypes espeak-ng instance) is not thread-safe.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import soxr

from mediaserver.audio.pcm import Pcm16
from mediaserver.engines.base import ModelInfo, ModelLoadError
from mediaserver.engines.loading import config_value, require_files
from mediaserver.engines.tts.base import (
    Gender,
    NotLoadedError,
    UnknownVoiceError,
    Voice,
    check_speed,
    check_text,
    float_to_pcm16,
)
from mediaserver.engines.tts.clauses import split_clauses

NAME: Final = "kokoro"
NATIVE_RATE: Final = 24_000
VOICE_SHAPE: Final = (510, 1, 256)
# Kokoro voice names: language letter, gender letter, "_", name ("pf_dora").
_LANGUAGES: Final = {
    "a": "en-US", "b": "en-GB", "e": "es", "f": "fr-FR", "h": "hi", "i": "it", "j": "ja",
    "p": "pt-BR", "z": "zh",
}  # fmt: skip
_GENDERS: Final[Mapping[str, Gender]] = {"f": "female", "m": "male"}
# Raised by torch while kokoro builds its modules; harmless, and pytest treats them as errors.
_BUILD_WARNINGS: Final = (
    (UserWarning, r"dropout option adds dropout"),
    (FutureWarning, r".*weight_norm.* is deprecated"),
)


@dataclass(frozen=True, slots=True)
class KokoroSettings:
    model: str = "kokoro-v1_0.pth"
    repo_id: str = "hexgrad/Kokoro-82M"  # a label for kokoro; never fetched
    lang_code: str = "p"
    sample_rate: int = NATIVE_RATE
    default_voice: str = "pf_dora"
    device: str = "cpu"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KokoroSettings:
        d = cls()
        settings = cls(
            model=config_value(config, "model", d.model),
            repo_id=config_value(config, "repo_id", d.repo_id),
            lang_code=config_value(config, "lang_code", d.lang_code),
            sample_rate=config_value(config, "sample_rate", d.sample_rate),
            default_voice=config_value(config, "default_voice", d.default_voice),
            device=config_value(config, "device", d.device),
        )
        if not 8000 <= settings.sample_rate <= 48_000:
            raise ModelLoadError(
                f"model config 'sample_rate' must be 8000..48000, got {settings.sample_rate}"
            )
        return settings


def voice_info(name: str) -> Voice:
    """What a Kokoro voice name says about itself ("pm_alex": Brazilian, male)."""
    language = _LANGUAGES.get(name[:1], "und") if len(name) > 2 and name[2] == "_" else "und"
    gender = _GENDERS.get(name[1:2], "unknown") if language != "und" else "unknown"
    return Voice(name, language, gender, NAME)


class KokoroEngine:
    name = NAME

    def __init__(self) -> None:
        self._settings = KokoroSettings()
        self._pipeline: Any = None
        self._voices: dict[str, Any] = {}  # name -> style pack tensor
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return self._settings.sample_rate

    @property
    def default_voice(self) -> str:
        return self._settings.default_voice

    def load(self, model: ModelInfo) -> None:
        settings = KokoroSettings.from_config(model.config)
        require_files(model.path, "config.json", settings.model)
        voice_files = sorted((model.path / "voices").glob("*.pt"))
        if not voice_files:
            raise ModelLoadError(f"model directory {model.path} has no voices/*.pt voice files")
        if settings.default_voice not in {p.stem for p in voice_files}:
            raise ModelLoadError(
                f"model directory {model.path} has no voices/{settings.default_voice}.pt "
                "(the configured default_voice)"
            )
        _check_config(model.path / "config.json")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before kokoro/huggingface_hub import
        torch, kokoro = _import_stack()
        if model.threads:  # process-wide, which is right: a worker runs one engine
            torch.set_num_threads(model.threads)
        voices = {p.stem: _load_voice(torch, p) for p in voice_files}
        pipeline = _build_pipeline(kokoro, model.path, settings)
        self._voices = {name: pack.to(settings.device) for name, pack in voices.items()}
        self._pipeline = pipeline
        self._settings = settings

    def voices(self) -> list[Voice]:
        self._loaded()
        return [voice_info(name) for name in self._voices]

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> Iterator[Pcm16]:
        pipeline = self._loaded()
        voice = voice or self._settings.default_voice
        pack = self._voices.get(voice) if isinstance(voice, str) else None
        if pack is None:
            raise UnknownVoiceError(str(voice), self._voices, NAME)
        clauses = split_clauses(check_text(text))
        return self._stream(pipeline, clauses, pack, check_speed(speed))

    def _stream(
        self, pipeline: Any, clauses: list[str], pack: Any, speed: float
    ) -> Iterator[Pcm16]:
        rate = self._settings.sample_rate
        for clause in clauses:
            with self._lock:  # held per clause, never across a yield
                pieces = [
                    result.audio.numpy()
                    for result in pipeline(clause, voice=pack, speed=speed, split_pattern=None)
                    if result.audio is not None
                ]
            if not pieces:  # nothing pronounceable in this clause
                continue
            audio = np.concatenate(pieces)
            if rate != NATIVE_RATE:
                audio = soxr.resample(audio, NATIVE_RATE, rate)
            yield float_to_pcm16(audio)

    def unload(self) -> None:
        self._pipeline = None
        self._voices = {}
        gc.collect()

    def health(self) -> Mapping[str, Any]:
        s = self._settings
        return {
            "engine": NAME,
            "loaded": self._pipeline is not None,
            "sample_rate": s.sample_rate,
            "default_voice": s.default_voice,
            "voices": len(self._voices),
            "lang_code": s.lang_code,
            "device": s.device,
        }

    def _loaded(self) -> Any:
        if self._pipeline is None:
            raise NotLoadedError(NAME)
        return self._pipeline


def _check_config(path: Path) -> None:
    """Refuse a config.json kokoro would choke on, naming the key, before building 82 M params."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None
    needed = ("vocab", "n_token", "hidden_dim", "style_dim", "n_layer", "max_dur", "dropout",
              "text_encoder_kernel_size", "n_mels", "plbert", "istftnet")  # fmt: skip
    missing = [key for key in needed if not isinstance(config, dict) or key not in config]
    if missing:
        raise ModelLoadError(f"{path} lacks {', '.join(missing)}: not a Kokoro config")


def _import_stack() -> tuple[Any, Any]:
    try:
        import kokoro
        import torch
        from loguru import logger
    except ImportError as exc:
        raise ModelLoadError(f"the kokoro engine needs the kokoro package: {exc}") from exc
    logger.disable("kokoro")  # its per-call debug and language warnings are not our logs
    return torch, kokoro


def _load_voice(torch: Any, path: Path) -> Any:
    try:
        pack = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors alike
        raise ModelLoadError(f"voice file {path} cannot be read: {exc}") from None
    if not isinstance(pack, torch.Tensor) or tuple(pack.shape) != VOICE_SHAPE:
        shape = tuple(pack.shape) if isinstance(pack, torch.Tensor) else type(pack).__name__
        raise ModelLoadError(f"voice file {path} holds {shape}, expected a tensor {VOICE_SHAPE}")
    return pack.float()


SUBNETWORKS: Final = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")


def _load_strictly(kmodel: Any, weights: Path) -> None:
    """Load the weights again, strictly.

    When a state dict does not fit, kokoro retries leniently and carries on with random
    weights: a model that speaks noise. Loading every sub-network strictly (memory-mapped, so
    the file is not held twice) turns that into an error naming the mismatch.
    """
    import torch

    state = torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(state, dict):
        raise ModelLoadError(f"{weights} holds {type(state).__name__}, not Kokoro state dicts")
    missing = [name for name in SUBNETWORKS if name not in state]
    if missing:
        raise ModelLoadError(f"{weights} lacks the weights of {', '.join(missing)}")
    for name in SUBNETWORKS:
        params = {k.removeprefix("module."): v for k, v in state[name].items()}
        getattr(kmodel, name).load_state_dict(params, strict=True)


def _build_pipeline(kokoro: Any, directory: Path, settings: KokoroSettings) -> Any:
    try:
        with warnings.catch_warnings():
            for category, message in _BUILD_WARNINGS:
                warnings.filterwarnings("ignore", message, category)
            kmodel = kokoro.KModel(
                repo_id=settings.repo_id,
                config=str(directory / "config.json"),
                model=str(directory / settings.model),
            )
        _load_strictly(kmodel, directory / settings.model)
        kmodel = kmodel.to(settings.device).eval()
        return kokoro.KPipeline(
            lang_code=settings.lang_code, repo_id=settings.repo_id, model=kmodel
        )
    except Exception as exc:  # torch/kokoro raise RuntimeError, KeyError, AssertionError...
        raise ModelLoadError(
            f"cannot load the Kokoro model in {directory} ({settings.model}): {exc!r}"
        ) from exc
