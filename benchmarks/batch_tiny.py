"""Batch transcription figures: the REST API against faster-whisper called directly, and
batched against sequential decoding of a long file.

    python benchmarks/batch_tiny.py [--dim 384] [--layers 4] [--seconds 60] [--long-seconds 300]
                               [--repeat 5] [--threads 0]

1. REST overhead. The same WAV file and the same model: `mediaserver serve` (worker process,
   PyAV decode, preprocessing, post-processing, JSON) against `WhisperModel.transcribe` in this
   process (faster-whisper's own decode) with the decoding settings the engine uses. Prints the
   medians and their ratio (target <= 1.05).
2. Long files. `FasterWhisperEngine.transcribe_file` on a long file, sequential against batched
   30 s windows (`BatchedInferencePipeline`, batch 8). Prints the speed-up.

The model is a random-weight Whisper built by tests/tiny_models.py with whisper-tiny's width
(d_model 384, 4 encoder + 4 decoder layers; 2 attention heads where the real one has 6) and the
large-v2 vocabulary (51 865 tokens), int8 on CPU. Its text is gibberish, but the work per audio
window (mel features, encoder, beam search until <|endoftext|>) is the real code. Its manifest
switches off the temperature fallback, which random weights would otherwise trigger at random.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediaserver.engines.base import ModelInfo, TranscribeOptions
from mediaserver.engines.models.manifest import ENGINE_TRAITS, Manifest, Source
from mediaserver.engines.models.registry import Registry

RATE = 16_000
CONFIG = {"log_prob_threshold": -1000.0, "compression_ratio_threshold": 1000.0}
NAME = "bench-whisper"


def speech_like(seconds: float, seed: int = 0) -> npt.NDArray[np.int16]:
    """3 s bursts of noise (what the random model transcribes) between 1 s pauses."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * RATE), dtype=np.float64)
    for start in range(0, len(out), 4 * RATE):
        burst = out[start : start + 3 * RATE]
        burst[:] = rng.standard_normal(len(burst)) * 0.1
    return (out * 32767).astype(np.int16)


def write_wav(path: Path, pcm: npt.NDArray[np.int16]) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return path


def install_model(root: Path, dim: int, layers: int) -> tuple[Path, Path]:
    """Build the model, import it like `mediaserver pull --from`; (models dir, model dir)."""
    from tests.tiny_models import build_tiny_whisper

    source = build_tiny_whisper(root / "src", dim=dim, layers=layers)
    traits = ENGINE_TRAITS["faster-whisper"]
    Manifest(NAME, "faster-whisper", traits.type, traits.architecture, traits.capabilities,
             Source("local", path=str(source)), config=CONFIG).write(source)  # fmt: skip
    models = root / "models"
    installed = Registry(models).import_dir(source, name=NAME)
    assert installed.path is not None
    return models, installed.path


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return runs


def direct_runs(
    model_dir: Path, wav: Path, threads: int, repeat: int
) -> tuple[list[float], list[float], str]:
    """(runs with faster-whisper's file decoding, runs on already decoded audio, text)."""
    from faster_whisper import WhisperModel, decode_audio

    model = WhisperModel(str(model_dir), compute_type="int8", cpu_threads=threads)
    texts: list[str] = []
    decoded = decode_audio(str(wav), sampling_rate=RATE)

    def transcribe(audio: Any) -> None:
        segments, _ = model.transcribe(
            audio, beam_size=5, vad_filter=False, no_speech_threshold=0.6, **CONFIG
        )
        texts.append(" ".join(s.text.strip() for s in segments))  # decoding is lazy

    transcribe(decoded)  # warm-up, as the REST side gets one
    with_decode = timed(lambda: transcribe(decode_audio(str(wav), sampling_rate=RATE)), repeat)
    model_only = timed(lambda: transcribe(decoded), repeat)
    return with_decode, model_only, texts[-1]


@contextlib.contextmanager
def server(models: Path, port: int) -> Iterator[str]:
    env = {
        **os.environ,
        "MEDIASERVER_MODELS_DIR": str(models),
        "MEDIASERVER_MODELS__AUTO_UNLOAD_S": "0",
        "MEDIASERVER_LOGGING__LEVEL": "warning",
        "MEDIASERVER_RTP__ENABLED": "false",
        "MEDIASERVER_AUDIOSOCKET__ENABLED": "false",
        # The engine must hear the very samples faster-whisper gets: with random weights a
        # louder input changes the decoded tokens, so the work, and the comparison.
        "MEDIASERVER_AUDIO__DC_REMOVE": "false",
        "MEDIASERVER_AUDIO__GAIN_NORMALIZE": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediaserver", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import httpx

    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def rest_runs(models: Path, wav: Path, repeat: int) -> tuple[list[float], str]:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = wav.read_bytes()
    texts: list[str] = []

    with server(models, port) as url:

        def once() -> None:
            r = httpx.post(
                f"{url}/v1/audio/transcriptions",
                files={"file": ("audio.wav", data, "audio/wav")},
                data={"model": NAME, "response_format": "json", "itn": "false"},
                timeout=600,
            )
            r.raise_for_status()
            texts.append(r.json()["text"])

        once()  # starts the worker and loads the model
        return timed(once, repeat), texts[-1]


def long_file_runs(model_dir: Path, pcm: npt.NDArray[np.int16], threads: int) -> dict[str, float]:
    from mediaserver.engines.stt.faster_whisper import FasterWhisperEngine

    engine = FasterWhisperEngine()
    engine.load(ModelInfo(NAME, model_dir, "faster-whisper", CONFIG, threads))
    audio = pcm.astype(np.float32) / 32768.0
    out = {}
    for label, batched in (("sequential", False), ("batched", True)):
        options = TranscribeOptions(batched=batched, batch_size=8)
        engine.transcribe_file(audio[: 30 * RATE], options)  # warm-up
        out[label] = min(timed(lambda o=options: engine.transcribe_file(audio, o), 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=384, help="d_model (whisper-tiny: 384)")
    parser.add_argument("--layers", type=int, default=4, help="layers each side (tiny: 4)")
    parser.add_argument("--seconds", type=float, default=60.0, help="file for the REST ratio")
    parser.add_argument("--long-seconds", type=float, default=300.0, help="long file")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="CTranslate2 threads (0: default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        models, model_dir = install_model(root, args.dim, args.layers)
        size_mb = (model_dir / "model.bin").stat().st_size / 1e6
        layers = f"{args.layers}+{args.layers} layers"
        print(f"model: random-weight Whisper, d_model {args.dim}, {layers}, vocab 51865, "
              f"model.bin {size_mb:.0f} MB (float32 on disk, int8 on CPU)")  # fmt: skip
        wav = write_wav(root / "file.wav", speech_like(args.seconds))
        direct_s, model_s, direct_text = direct_runs(model_dir, wav, args.threads, args.repeat)
        rest_s, rest_text = rest_runs(models, wav, args.repeat)
        direct, rest = statistics.median(direct_s), statistics.median(rest_s)
        model_only = statistics.median(model_s)
        same = "identical" if direct_text == rest_text else "DIFFERENT"
        print(f"transcripts: {same} ({len(direct_text.split())} vs {len(rest_text.split())} words)")
        print(f"{args.seconds:.0f} s file, median of {args.repeat}: direct faster-whisper "
              f"{direct:.3f} s (model only {model_only:.3f} s), REST API {rest:.3f} s, ratio "
              f"{rest / direct:.3f} ({rest / model_only:.3f} to model only; "
              "target <= 1.05)")  # fmt: skip
        long = long_file_runs(model_dir, speech_like(args.long_seconds, seed=1), args.threads)
        speedup = long["sequential"] / long["batched"]
        print(f"{args.long_seconds:.0f} s file: sequential {long['sequential']:.2f} s, "
              f"batched {long['batched']:.2f} s, speed-up {speedup:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
