"""eSpeak NG through ctypes: the formant synthesizer that is always there.

Robotic, but ~1 ms to first audio and no model files: the default voice when no Kokoro model is
installed. The library comes from the `espeakng-loader` wheel (library and data bundled), else
from the system (`libespeak-ng.so.1` and its `espeak-ng-data`).

libespeak-ng is a process-wide singleton: one current voice, one rate, one callback. Every
engine instance shares one `_Library`, and each clause is synthesized under its lock with the
voice and rate set again, so engines in several threads take turns clause by clause and never
see each other's settings. (misaki, Kokoro's phonemizer, loads its own copy of the library
file, so it does not share this state.)
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import soxr

from mediaserver.audio.pcm import Pcm16
from mediaserver.engines.base import ModelInfo, ModelLoadError
from mediaserver.engines.tts.base import (
    NotLoadedError,
    UnknownVoiceError,
    Voice,
    check_speed,
    check_text,
)
from mediaserver.engines.tts.clauses import split_clauses

NAME: Final = "espeak-ng"
DEFAULT_VOICE: Final = "pt-br"
NATIVE_RATE: Final = 22_050
BASE_WPM: Final = 175  # espeak-ng's default rate: speed 1.0
_SYSTEM_LIBRARY: Final = "libespeak-ng.so.1"
_SYSTEM_DATA: Final = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data")

_AUDIO_OUTPUT_SYNCHRONOUS: Final = 2
_INITIALIZE_DONT_EXIT: Final = 0x8000  # report a missing data dir instead of exit()
_POS_CHARACTER: Final = 1
_CHARS_UTF8: Final = 1
_RATE: Final = 1  # espeak_PARAMETER.espeakRATE

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _EspeakVoice(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated name)*, then a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


@dataclass(frozen=True, slots=True)
class _VoiceEntry:
    voice: Voice
    identifier: bytes  # what espeak_SetVoiceByName takes ("roa/pt-BR")


class _Library:
    """The loaded libespeak-ng: initialized once per process, used under `lock`."""

    def __init__(self, path: str, data: str) -> None:
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            raise ModelLoadError(f"cannot load the espeak-ng library {path}: {exc}") from exc
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetSynthCallback.argtypes = (_SynthCallback,)
        lib.espeak_Synth.argtypes = (
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        )  # fmt: skip
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise ModelLoadError(f"espeak-ng could not initialize with data directory {data}")
        self.lib = lib
        self.path = path
        self.data = data
        self.rate = int(rate)
        self.version = (lib.espeak_Info(None) or b"").decode()
        self.lock = threading.Lock()
        self._chunks: list[Pcm16] = []
        self._callback = _SynthCallback(self._collect)  # kept referenced: C holds a pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.voices = _list_voices(lib)

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, (count,)).astype(np.int16))
        return 0  # 0 = carry on

    def synth(self, text: str, identifier: bytes, wpm: int) -> Pcm16:
        """One clause to PCM at `self.rate`; the caller holds `lock`."""
        if self.lib.espeak_SetVoiceByName(identifier) != 0:
            raise RuntimeError(f"espeak-ng refused voice {identifier.decode()!r}")
        self.lib.espeak_SetParameter(_RATE, wpm, 0)
        data = text.encode()
        self._chunks = []
        status = self.lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        chunks, self._chunks = self._chunks, []
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


_library: _Library | None = None
_library_lock = threading.Lock()


def _shared_library() -> _Library:
    global _library
    with _library_lock:
        if _library is None:
            _library = _Library(*_locate())
        return _library


def _locate() -> tuple[str, str]:
    """(library, data directory): the espeakng-loader wheel's, else the system's."""
    try:
        import espeakng_loader

        path, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
        if Path(path).is_file():
            return path, data
    except (ImportError, RuntimeError):  # not installed, or installed without its data
        pass
    if not _SYSTEM_DATA.is_dir():
        raise ModelLoadError(
            "espeak-ng is not available: install the espeakng-loader package "
            "or the espeak-ng system package"
        )
    return _SYSTEM_LIBRARY, str(_SYSTEM_DATA)


def _list_voices(lib: ctypes.CDLL) -> dict[str, _VoiceEntry]:
    """Voices by id: the primary language ("pt-br"), or the voice file when that is taken."""
    entries: dict[str, _VoiceEntry] = {}
    array = lib.espeak_ListVoices(None)
    i = 0
    while array[i]:
        raw = array[i].contents
        i += 1
        languages = _languages(raw.languages)
        identifier = raw.identifier or b""
        if not languages or not identifier:
            continue
        vid = languages[0]
        if vid in entries:
            vid = identifier.decode().rsplit("/", 1)[-1].lower()
        # Language voice files do not declare a gender; the library reports its default (male)
        # for them, which says nothing about how the voice sounds. Not known, so "unknown".
        entries[vid] = _VoiceEntry(Voice(vid, bcp47(languages[0]), "unknown", NAME), identifier)
    return entries


def _languages(address: int | None) -> list[str]:
    names: list[str] = []
    while address:
        if ctypes.c_ubyte.from_address(address).value == 0:  # priority 0 ends the list
            break
        name = ctypes.string_at(address + 1)
        names.append(name.decode())
        address += len(name) + 2
    return names


def bcp47(language: str) -> str:
    """espeak's lower-case tags to BCP 47 case: "pt-br" -> "pt-BR", "en-gb-x-rp" -> "en-GB-x-rp"."""
    parts = language.split("-")
    return "-".join(
        [parts[0]] + [p.upper() if len(p) == 2 and i < 2 else p for i, p in enumerate(parts[1:], 1)]
    )


class EspeakEngine:
    name = NAME

    def __init__(self) -> None:
        self._library: _Library | None = None
        self._default_voice = DEFAULT_VOICE
        self._rate = NATIVE_RATE

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def default_voice(self) -> str:
        return self._default_voice

    def load(self, model: ModelInfo) -> None:
        voice = model.config.get("voice", DEFAULT_VOICE)
        rate = model.config.get("sample_rate", NATIVE_RATE)
        if not isinstance(voice, str) or not voice:
            raise ModelLoadError(f"model config 'voice' must be a voice name, got {voice!r}")
        if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 48_000:
            raise ModelLoadError(f"model config 'sample_rate' must be 8000..48000, got {rate!r}")
        library = _shared_library()
        if voice.lower() not in library.voices:
            raise ModelLoadError(str(UnknownVoiceError(voice, library.voices, NAME)))
        self._library = library
        self._default_voice = voice.lower()
        self._rate = rate

    def voices(self) -> list[Voice]:
        return [entry.voice for entry in self._loaded().voices.values()]

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> Iterator[Pcm16]:
        library = self._loaded()
        voice = voice or self._default_voice
        entry = library.voices.get(voice.lower()) if isinstance(voice, str) else None
        if entry is None:
            raise UnknownVoiceError(str(voice), library.voices, NAME)
        clauses = split_clauses(check_text(text))
        wpm = round(BASE_WPM * check_speed(speed))
        return self._stream(library, clauses, entry.identifier, wpm)

    def _stream(
        self, library: _Library, clauses: list[str], identifier: bytes, wpm: int
    ) -> Iterator[Pcm16]:
        for clause in clauses:
            with library.lock:  # held per clause, never across a yield
                pcm = library.synth(clause, identifier, wpm)
            if self._rate != library.rate:
                pcm = soxr.resample(pcm, library.rate, self._rate)
            if pcm.size:
                yield pcm

    def unload(self) -> None:
        # The library stays initialized for the process (it cannot be re-initialized safely).
        self._library = None

    def health(self) -> Mapping[str, Any]:
        library = self._library
        return {
            "engine": NAME,
            "loaded": library is not None,
            "sample_rate": self._rate,
            "default_voice": self._default_voice,
            "version": "" if library is None else library.version,
            "library": "" if library is None else library.path,
        }

    def _loaded(self) -> _Library:
        if self._library is None:
            raise NotLoadedError(NAME)
        return self._library
