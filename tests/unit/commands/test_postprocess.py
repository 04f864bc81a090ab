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


def test_explain_names_the_rule_of_every_change(settings: Settings) -> None:
    stdin = "o cliente pagou 2 mil reais e deu o cpf 52998224725 dia primeiro de maio\nbom dia\n"
    code, lines = _run(settings, ["--explain"], stdin)
    assert code == 0
    assert lines == [
        "o cliente pagou R$ 2.000,00 e deu o CPF 529.982.247-25 dia 1º de maio",
        '  [16:27] money: "2 mil reais" -> "R$ 2.000,00"',
        '  [36:39] acronym: "cpf" -> "CPF"',
        '  [40:54] cpf: "52998224725" -> "529.982.247-25"',
        '  [59:69] date: "primeiro de maio" -> "1º de maio"',
        "bom dia",  # nothing changed, nothing explained
    ]


def test_explain_in_jsonl_with_hot_words_and_redaction(settings: Settings) -> None:
    pytest.importorskip("mediaserver.domain.hotwords")
    request = {
        "text": "paguei no mercadopago, celular 0 11 98765 4321",
        "hot_words": ["Mercado Pago"],
    }
    stdin = json.dumps(request) + "\n"
    _, lines = _run(settings, ["--jsonl", "--explain", "--redact"], stdin)
    (reply,) = [json.loads(line) for line in lines]
    assert reply["text"] == "paguei no Mercado Pago, celular (**) *****-**21"
    assert reply["rewrites"] == [
        {"rule": "hotword.exact", "before": "mercadopago", "after": "Mercado Pago",
         "start": 10, "end": 22},
        {"rule": "phone.trunk_zero", "before": "* ** ***** ****", "after": "(**) *****-**21",
         "start": 32, "end": 47},
    ]  # fmt: skip
    for rewrite in reply["rewrites"]:
        assert reply["text"][rewrite["start"] : rewrite["end"]] == rewrite["after"]
    assert "98765" not in lines[0]


def test_without_explain_jsonl_has_no_rewrites(settings: Settings) -> None:
    _, lines = _run(settings, ["--jsonl"], '{"text": "vinte"}\n')
    assert "rewrites" not in json.loads(lines[0])


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
