"""Cost of the audio stages per 20 ms frame of one call.

    python benchmarks/audio_bench.py [--seconds 2] [--repeats 7]

Prints the median over repeats of µs per 20 ms frame (VAD: per stream per 20 ms of audio).
"speech" is pt-BR from espeak-ng when installed (loud noise otherwise: every chunk then reaches
the network, which costs the same); "silence" is line noise at -70 dBFS, which the pre-filter
decides without the network.
"""

from __future__ import annotations

import argparse

import numpy as np
import soxr
from _common import FRAME, RATE, frames, line_noise, median_us, speech

from mediaserver.audio.denoise import Denoiser
from mediaserver.audio.levels import DcBlocker, GainNormalizer
from mediaserver.audio.pipeline import Preprocessor
from mediaserver.audio.resample import Resampler
from mediaserver.audio.silero import SileroModel
from mediaserver.audio.vad import Vad, VadBatcher, VadStream


def bench_stages(seconds: float, repeats: int, speech: np.ndarray) -> None:
    speech_8k = soxr.resample(speech, RATE, 8000)
    resampler = Resampler(8000, RATE)

    def resample() -> int:
        for f in frames(speech_8k, 160):
            resampler.process(f)
        return len(speech_8k) // 160

    report("resample 8k->16k (soxr LQ, int16)", median_us(resample, repeats))
    dc, gain = DcBlocker(RATE), GainNormalizer(RATE)
    float_frames = [f.astype(np.float32) for f in frames(speech, FRAME)]

    def levels() -> int:
        for f in float_frames:
            gain.apply(dc.apply(f.copy()))
        return len(float_frames)

    report("DC removal + gain (float32 in place)", median_us(levels, repeats))
    pre = Preprocessor(8000)

    def front_end() -> int:
        for f in frames(speech_8k, 160):
            pre.process(f)
        return len(speech_8k) // 160

    report("Preprocessor 8k -> 16k (int16 in/out, no denoise)", median_us(front_end, repeats))
    with Denoiser(RATE) as denoiser:

        def denoise() -> int:
            for f in frames(speech, FRAME)[:50]:
                denoiser.process(f)
            return 50

        report("denoise 16k (RNNoise via 48k)", median_us(denoise, repeats))
    with Denoiser(8000, RATE) as denoiser:

        def denoise_8k() -> int:
            for f in frames(speech_8k, 160)[:50]:
                denoiser.process(f)
            return 50

        report("denoise 8k -> 16k (RNNoise via 48k)", median_us(denoise_8k, repeats))


def bench_vad(
    seconds: float, repeats: int, model: SileroModel, audio: dict[str, np.ndarray]
) -> None:
    for name, pcm in audio.items():
        chunks = frames(pcm, FRAME)
        vad = Vad(model)

        def single(vad: Vad = vad, chunks: list[np.ndarray] = chunks) -> int:
            for f in chunks:
                vad.process(f)
            return len(chunks)

        report(f"VAD single stream, {name}", median_us(single, repeats))
    for batch in (1, 10, 50, 100, 200):
        for name, pcm in audio.items():
            chunks = frames(pcm, FRAME)[: max(10, int(50 * seconds / max(1, batch // 10)))]
            streams = [VadStream() for _ in range(batch)]
            batcher = VadBatcher(model)

            def batched(
                streams: list[VadStream] = streams,
                chunks: list[np.ndarray] = chunks,
                batcher: VadBatcher = batcher,
            ) -> int:
                for f in chunks:
                    for stream in streams:
                        stream.feed(f)
                    batcher.run(streams)
                    for stream in streams:
                        stream.events()
                return len(chunks) * len(streams)

            report(f"VAD batched B={batch:<3d}, {name} (per stream)", median_us(batched, repeats))


def bench_chain(seconds: float, repeats: int, model: SileroModel, speech: np.ndarray) -> None:
    """Telephone calls end to end (no denoise): 8 kHz frames -> Preprocessor -> batched VAD."""
    speech_8k = soxr.resample(speech, RATE, 8000)
    calls = 100
    chunks = frames(speech_8k, 160)[: int(25 * seconds)]
    pres = [Preprocessor(8000) for _ in range(calls)]
    streams = [VadStream() for _ in range(calls)]
    batcher = VadBatcher(model)

    def chain() -> int:
        for f in chunks:
            for pre, stream in zip(pres, streams, strict=True):
                stream.feed(pre.process(f))
            batcher.run(streams)
            for stream in streams:
                stream.events()
        return len(chunks) * calls

    report(f"whole chain, {calls} calls, speech (per call)", median_us(chain, repeats))


def report(label: str, us: float) -> None:
    print(f"{label:<56s} {us:8.1f} µs CPU / 20 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="audio per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    speech_pcm, source = speech(args.seconds)
    print(f"speech: {source}; {args.seconds} s per repeat, median of {args.repeats}")
    bench_stages(args.seconds, args.repeats, speech_pcm)
    model = SileroModel()
    bench_vad(
        args.seconds,
        args.repeats,
        model,
        {"speech": speech_pcm, "silence": line_noise(args.seconds)},
    )
    bench_chain(args.seconds, args.repeats, model, speech_pcm)


if __name__ == "__main__":
    main()
