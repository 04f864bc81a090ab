"""The live path's accuracy without load: each prompt as a call, each final as a call decodes it.

`realtime_latency.py` measures WER through a running server, where load adds its own effects
(finals decoded greedily while others wait) and a run of 120 utterances takes minutes. This
script isolates the audio path and runs it on every prompt in a few minutes, the same each time:

- each prompt (Debian's Asterisk recordings, 8 kHz human speech, with transcripts:
  `tests/real_speech.py`) becomes a call: 1.5 s of silence, the prompt, 2 s of silence, sent
  through G.711 µ-law in 20 ms frames;
- `CallCore` runs on it, the very code a live call runs: the front end (8k->16k FIR, DC, gain),
  ring buffer, the Silero VAD and the session; every segment it commits is taken with its exact
  span;
- each segment's audio is decoded by the engine's live final (`FasterWhisperEngine.hypothesis`,
  in this process: the short encoder window, beam 5);
- the WER of the finals is set beside the direct library call (faster-whisper `transcribe`,
  beam 5, 30 s window) on the same prompts, on the files and through G.711.

The model is faster-whisper **base** (int8, 2 threads), assembled offline by
`tests/real_model.py`.

    python benchmarks/live_wer.py                  # every spoken prompt of 1-12 s (251)
    python benchmarks/live_wer.py --pool 120       # realtime_latency.py's 120-prompt pool
    python benchmarks/live_wer.py --live-context 0 # finals on Whisper's 30 s window
    python benchmarks/live_wer.py --lead-ms 500    # decode 500 ms more audio before each span
    python benchmarks/live_wer.py -v               # and each prompt where live differs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import realtime_latency as live  # noqa: E402

from mediaserver.audio.silero import SileroModel  # noqa: E402
from mediaserver.audio.vad import VadBatcher  # noqa: E402
from mediaserver.config import Settings  # noqa: E402
from mediaserver.engines.base import TranscribeOptions  # noqa: E402
from mediaserver.session.call_core import CallCore, CallOutput, FinishSegment  # noqa: E402
from mediaserver.session.call_options import parse_call_options  # noqa: E402
from tests.in_process import whisper  # noqa: E402
from tests.real_model import whisper_base_dir  # noqa: E402
from tests.real_speech import Prompt, word_errors  # noqa: E402

RATE = 8000
FRAME = 160  # 20 ms


def committed(out: CallOutput) -> list[tuple[int, int]]:
    return [
        (c.segment.start_sample, c.segment.end_sample)
        for c in out.commands
        if isinstance(c, FinishSegment)
    ]


def segments(prompt: Prompt, batcher: VadBatcher, lead_ms: int) -> list[np.ndarray]:
    """The audio of each segment a live call commits for `prompt` (16 kHz float), with
    `lead_ms` more before each span (never reaching back into the previous segment)."""
    pcm = live.g711(prompt.pcm())
    call = np.concatenate([np.zeros(12000, np.int16), pcm, np.zeros(16000, np.int16)])
    core = CallCore("bench", parse_call_options({}, Settings()), 0.0)
    spans: list[tuple[int, int]] = []
    for i in range(0, len(call), FRAME):
        now = (i // FRAME + 1) * 0.02
        out = core.feed(call[i : i + FRAME], RATE, now)
        batcher.run([core.vad])
        out.extend(core.vad_done(now))
        spans += committed(out)
    spans += committed(core.commit(now))  # speech still open at the end (none expected)
    audio, previous_end = [], 0
    for start, end in spans:
        first = max(start - lead_ms * 16, previous_end)
        audio.append(core.read(first, end).astype(np.float32) / 32768.0)
        previous_end = end
    return audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", default="all", help="prompts: a number (2-6.5 s), or all")
    parser.add_argument(
        "--live-context", type=float, help="the model's live_context_seconds (default: 20)"
    )
    parser.add_argument("--lead-ms", type=int, default=0, help="audio decoded before a span")
    parser.add_argument("--no-direct", action="store_true", help="skip the direct baseline")
    parser.add_argument("-v", action="store_true", help="print the prompts where they differ")
    args = parser.parse_args()
    pool = live.prompt_pool(None if args.pool == "all" else int(args.pool))
    model_dir = whisper_base_dir()
    config = {} if args.live_context is None else {"live_context_seconds": args.live_context}
    engine = whisper(model_dir, 2, **config).engine
    options = TranscribeOptions(language="en")
    batcher = VadBatcher(SileroModel())
    # The library's own call on each prompt (file and G.711), per prompt name.
    direct = None if args.no_direct else live.direct_baseline(model_dir, pool)
    errors = {"live": 0, "direct": 0, "direct G.711": 0}
    words = decoded = 0
    busy = 0.0
    for prompt in pool:
        parts = segments(prompt, batcher, args.lead_ms)
        started = time.perf_counter()
        text = " ".join(engine.hypothesis(a, options, final=True).text for a in parts)
        busy += time.perf_counter() - started
        decoded += len(parts)
        count, total = word_errors(prompt.text, text)
        words += total
        errors["live"] += count
        if direct is not None:
            pair = (direct.errors[prompt.name], direct.errors_g711[prompt.name])
            errors["direct"] += pair[0]
            errors["direct G.711"] += pair[1]
            if args.v and count != pair[0]:
                print(f"live {count} direct {pair[0]} G.711 {pair[1]} | {prompt.text}\n    {text}")
    print(f"{len(pool)} prompts, {words} words, {decoded} live segments "
          f"(mean final decode {busy / max(decoded, 1) * 1000:.0f} ms)")  # fmt: skip
    for name, count in errors.items():
        if name == "live" or direct is not None:
            print(f"  {name:13s} {count:4d} errors  WER {count / max(words, 1) * 100:.2f} %")
    if direct is not None:
        gap = (errors["live"] - errors["direct"]) / max(words, 1) * 100
        print(f"  live - direct: {gap:+.2f} points")


if __name__ == "__main__":
    main()
