"""Post-processing latency per final segment, and first-use start-up time.

    python benchmarks/postprocess.py [--segments 5000] [--no-nemo] [--skip-startup]

Segments are ~20 words of call-centre speech mixing plain talk, spoken numbers and entities
(CPF, phones, money, e-mail, percentages, dates, PIX keys), some written the way faster-whisper
writes them (digits with scale words, loose PIX keys, trunk zeros: POSTPROCESSING.md §5), built
from a fixed seed so runs compare; the `explain` row builds the trace `--explain` prints. Latency
is measured after a warm-up pass; start-up is measured in fresh processes, with the ITN grammar
cache already built and cold (empty cache directory).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mediaserver.domain.normalizer import Normalizer
from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor

_DIGITS = ["zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove"]
_FILLER_TEXT = (
    "bom dia eu queria saber sobre a minha conta corrente porque o banco me mandou uma "
    "mensagem ontem à noite e eu não entendi nada do que estava escrito lá então liguei"
)
_FILLER = _FILLER_TEXT.split()
_PIECES = [
    "meu cpf é {d11}",
    "o telefone é {d2} {d9}",
    "paguei {card} reais e {small} centavos",
    "a taxa é de {small} vírgula {digit} por cento",
    "o email é {name} ponto {name} arroba banco ponto com ponto br",
    "são {card} mil pessoas",
    "dois mil e vinte e cinco",
    "quero fazer um pix de {card} reais",
    "o código é {d4}",
    # §5: what faster-whisper and CTC models write
    "uns {n} mil reais pra chave {pix}",
    "o celular é zero onze nove {d8}",
    "telefone (011) 9{n}{n}-{n}{n}",
    "a fatura de {card} reais e {small} vence dia {day} de março",
    "vence {day} do doze de dois mil e vinte e cinco",
    "Cinco reais. Tenho conta na caixa e no mercadopago",
    "{n},5 por cento ao mês",
]
_PIX = ["3f2a9c10 7b4e 4d21 9a0f 5c6e7d8b9a01", "F1454968-9ADB 4B90 86F1 9C7681375D2F"]
_DAYS = ["primeiro", "dois", "quinze", "vinte e oito", "trinta"]
_CARDINALS = ["cento e vinte", "trezentos e quarenta e cinco", "duzentos", "mil e quinhentos",
              "quarenta e dois", "noventa e nove", "seiscentos e dez", "dezoito"]  # fmt: skip
_SMALL = ["dez", "vinte e cinco", "trinta", "cinquenta", "noventa", "quinze"]
_NAMES = ["ana", "carlos", "souza", "lima", "pedro", "julia"]


def _digits(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_DIGITS) for _ in range(n))


def make_segments(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        piece = rng.choice(_PIECES).format(
            d11=_digits(rng, 11), d2=rng.choice(["onze", "vinte e um", "quarenta e sete"]),
            d9=_digits(rng, 9), d4=_digits(rng, 4), card=rng.choice(_CARDINALS),
            small=rng.choice(_SMALL), digit=rng.choice(_DIGITS[1:]), name=rng.choice(_NAMES),
            n=rng.randrange(10, 99), pix=rng.choice(_PIX), d8=_digits(rng, 8),
            day=rng.choice(_DAYS),
        )  # fmt: skip
        words = piece.split()
        start = rng.randrange(len(_FILLER) - 20)
        filler = _FILLER[start : start + max(0, 20 - len(words))]
        cut = rng.randrange(len(filler) + 1)
        out.append(" ".join(filler[:cut] + words + filler[cut:]))
    return out


def _percentiles(times: list[float]) -> str:
    times = sorted(times)
    p50 = statistics.median(times) * 1000
    p99 = times[int(len(times) * 0.99) - 1] * 1000
    return f"p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {times[-1] * 1000:.2f} ms"


def latency(
    segments: list[str],
    processor: Postprocessor,
    options: PostprocessOptions,
    explain: bool = False,
) -> str:
    """Wall-clock and CPU-time percentiles; on a shared machine the wall tail is mostly
    preemption, which the thread's CPU time leaves out."""
    for text in segments[:500]:  # warm-up: imports, memo, branch caches
        processor.process(text, options, [] if explain else None)
    wall, cpu = [], []
    for text in segments:
        t, c = time.perf_counter(), time.thread_time()
        processor.process(text, options, [] if explain else None)
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - t)
    return f"wall {_percentiles(wall)} | cpu {_percentiles(cpu)}"


_STARTUP = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from mediaserver.domain.normalizer import Normalizer
from mediaserver.domain.pipeline import Postprocessor
normalizer = Normalizer(Path(sys.argv[1]), use_nemo=sys.argv[2] == "1")
normalizer.load()
processor = Postprocessor(normalizer)
text = processor.process("foram quarenta e dois mil e trezentos pedidos, cpf um dois três").text
print(json.dumps({"seconds": time.perf_counter() - t0, "nemo": normalizer.loaded}))
"""


def startup(cache: Path, nemo: bool) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _STARTUP, str(cache), "1" if nemo else "0"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    ).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    return f"{result['seconds']:.2f} s (NeMo loaded: {result['nemo']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=5000)
    parser.add_argument("--no-nemo", action="store_true")
    parser.add_argument("--skip-startup", action="store_true")
    args = parser.parse_args()
    segments = make_segments(args.segments)
    words = statistics.mean(len(s.split()) for s in segments)
    print(f"{len(segments)} segments, {words:.1f} words on average")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "itn"
        rules = Postprocessor(Normalizer(None, use_nemo=False))
        print("rules only          ", latency(segments, rules, PostprocessOptions()))
        print("rules, redact       ", latency(segments, rules, PostprocessOptions(redact=True)))
        if not args.no_nemo:
            normalizer = Normalizer(cache)
            if normalizer.load():
                nemo = Postprocessor(normalizer)
                print("NeMo cardinals      ", latency(segments, nemo, PostprocessOptions()))
                # Every cardinal asked afresh: the cost when the memo never hits.
                unmemoised = Postprocessor(Normalizer(cache, memo_size=0))
                print("NeMo, memo missing  ", latency(segments, unmemoised, PostprocessOptions()))
            else:
                print("NeMo unavailable:", normalizer.load_error)
        hot = PostprocessOptions(
            hot_words=("PIX", "Itaú", "Bradesco", "Nubank", "CDB", "Caixa", "Mercado Pago")
        )
        print("rules + hot words   ", latency(segments, rules, hot))
        print("rules, hot, explain ", latency(segments, rules, hot, explain=True))
        if not args.skip_startup:
            print("start-up, rules only", startup(Path(tmp) / "unused", nemo=False))
            print("start-up, cold cache", startup(Path(tmp) / "cold", nemo=True))
            print("start-up, warm cache", startup(Path(tmp) / "cold", nemo=True))


if __name__ == "__main__":
    main()
