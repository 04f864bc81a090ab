from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediaserver.cli import build_parser
from mediaserver.commands.postprocess import run
from mediaserver.config import Settings


def _run(settings: Settings, argv: list[str], stdin: str) -> tuple[int, list[str]]:
    args = build_parser().parse_args(["postprocess", "--no-nemo", *argv])
    out = io.StringIO()
    code = run(args, settings, io.StringIO(stdin), out)
    return code, out.getvalue().split("\n")[:-1]


def test_plain_lines_in_order(settings: Settings) -> None:
    code, lines = _run(settings, [], "cep sete zero zero quatro zero nove zero zero\n\nquinze\n")
    assert code == 0
    assert lines == ["CEP 70040-900", "", "15"]


def test_flags_switch_stages(settings: Settings) -> None:
    text = "cpf 52998224725 e doze reais\n"
    assert _run(settings, ["--no-itn"], text)[1] == ["CPF 529.982.247-25 e R$ 12,00"]
    assert _run(settings, ["--no-entities"], text)[1] == ["cpf 52998224725 e 12 reais"]
    assert _run(settings, ["--redact"], text)[1] == ["CPF ***.***.***-25 e R$ 12,00"]


def test_jsonl_with_a_bad_line_keeps_going(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = (
        '{"text": "celular 11 98765 4321"}\n'
        "{not json\n"
        '{"text": ["x"]}\n'
        '{"text": "ok", "hot_words": "PIX"}\n'
        '{"text": "vinte"}\n'
    )
    code, lines = _run(settings, ["--jsonl"], stdin)
    assert code == 1
    results = [json.loads(line) for line in lines]
    assert results[0] == {
        "text": "celular (11) 98765-4321",
        "entities": [{"type": "phone", "text": "(11) 98765-4321", "value": "11987654321",
                      "valid": True, "start": 8, "end": 23}],
    }  # fmt: skip
    assert [set(r) for r in results[1:4]] == [{"error"}] * 3
    assert results[4] == {"text": "20", "entities": []}
    assert "3 input line(s)" in capsys.readouterr().err


def test_jsonl_hot_words_per_line_override_the_flag(settings: Settings) -> None:
    pytest.importorskip("mediaserver.domain.hotwords")
    stdin = '{"text": "um pics"}\n{"text": "um pics", "hot_words": []}\n'
    _, lines = _run(settings, ["--jsonl", "--hot-words", "PIX"], stdin)
    assert [json.loads(line)["text"] for line in lines] == ["um PIX", "um pics"]


@pytest.mark.slow
def test_twenty_thousand_lines_through_a_pipe(tmp_path: Path) -> None:
    sentences = [
        "meu cpf é cinco dois nove nove oito dois dois quatro sete dois cinco",
        "o valor é cento e vinte reais e trinta centavos",
        "bom dia quero saber o saldo da minha conta por favor",
        "liga no celular onze nove oito sete seis cinco quatro três dois um",
    ]
    lines = [f"{sentences[i % 4]} {i}" for i in range(20_000)]
    env = {"MEDIASERVER_MODELS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mediaserver", "postprocess", "--no-nemo"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=240,
        check=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    out = proc.stdout.split("\n")[:-1]
    assert len(out) == 20_000
    assert out[0] == "meu CPF é 529.982.247-25 0"
    assert out[19_999] == "liga no celular (11) 98765-4321 19999"
    assert elapsed < 120  # ~1-3 s on a quiet machine; the bound only catches a blow-up
