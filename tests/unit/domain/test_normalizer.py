from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mediaserver.domain.normalizer import FAR_NAME, Normalizer, itn_cache_dir
from mediaserver.domain.pipeline import Postprocessor
from mediaserver.observability import Metrics

from .speech import cardinal


def _failures(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("mediaserver_itn_failures_total")
    assert value is not None
    return value


def test_cache_dir_is_under_the_models_dir(tmp_path: Path) -> None:
    assert itn_cache_dir(tmp_path) == tmp_path / "cache" / "itn"


def test_unusable_cache_dir_falls_back_and_counts(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    metrics = Metrics()
    normalizer = Normalizer(blocker / "itn", failures=metrics.itn_failures)
    assert normalizer.cardinal("quarenta e dois", 42) == 42
    assert normalizer.cardinal("sete", 7) == 7
    assert not normalizer.loaded
    assert normalizer.load_error is not None
    assert _failures(metrics) == 1  # the failed load, counted once; no retry per phrase
    assert Postprocessor(normalizer).process("quarenta e dois mil").text == "42.000"


def test_disabled_nemo_is_not_a_failure() -> None:
    metrics = Metrics()
    normalizer = Normalizer(None, failures=metrics.itn_failures, use_nemo=False)
    assert normalizer.cardinal("trinta", 30) == 30
    assert _failures(metrics) == 0


@pytest.fixture(scope="module")
def nemo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Normalizer, Metrics]:
    pytest.importorskip("nemo_text_processing")
    metrics = Metrics()
    normalizer = Normalizer(tmp_path_factory.mktemp("itn"), failures=metrics.itn_failures)
    assert normalizer.load(), normalizer.load_error
    return normalizer, metrics


# Single digit words never reach NeMo (they are digits of runs); NeMo leaves `zero` as is.
_SAMPLES = [11, 16, 19, 40, 58, 100, 101, 117, 200, 345, 500, 999]


@pytest.mark.slow
def test_nemo_agrees_with_our_parser(nemo: tuple[Normalizer, Metrics]) -> None:
    normalizer, metrics = nemo
    before = _failures(metrics)
    for n in _SAMPLES:
        assert normalizer.cardinal(cardinal(n), -1) == n
    for words, n in [("mil e oito", 1008), ("dois mil e dezenove", 2019),
                     ("sessenta e três mil quatrocentos e dez", 63410)]:  # fmt: skip
        assert normalizer.cardinal(words, -1) == n
    assert _failures(metrics) == before


@pytest.mark.slow
def test_nemo_output_that_is_not_an_integer_falls_back(nemo: tuple[Normalizer, Metrics]) -> None:
    normalizer, metrics = nemo
    before = _failures(metrics)
    # NeMo writes `1 milhão` here; the rules' value is used and the miss is counted.
    assert normalizer.cardinal("um milhão", 1_000_000) == 1_000_000
    assert _failures(metrics) == before + 1
    assert Postprocessor(normalizer).process("um milhão e dez").text == "1.000.010"


_LOAD = """
import json, os, sys, time
from pathlib import Path
from mediaserver.domain.normalizer import Normalizer
t = time.perf_counter()
ok = Normalizer(Path(sys.argv[1])).load()
print(json.dumps({"ok": ok, "seconds": time.perf_counter() - t}))
"""


def _load_in_new_process(cache: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _LOAD, str(cache)], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_grammars_are_compiled_once_and_reused(tmp_path: Path) -> None:
    pytest.importorskip("nemo_text_processing")
    cache = tmp_path / "cache" / "itn"
    first = _load_in_new_process(cache)
    far = cache / FAR_NAME
    assert first["ok"]
    assert far.exists()
    assert [p.name for p in cache.iterdir()] == [FAR_NAME]  # the build directory is gone
    stamp = far.stat().st_mtime_ns, far.stat().st_ino
    second = _load_in_new_process(cache)
    assert second["ok"]
    assert (far.stat().st_mtime_ns, far.stat().st_ino) == stamp  # loaded, not rewritten
    assert second["seconds"] < first["seconds"]


@pytest.mark.slow
def test_a_corrupt_grammar_file_is_rebuilt(tmp_path: Path) -> None:
    pytest.importorskip("nemo_text_processing")
    cache = tmp_path / "itn"
    cache.mkdir()
    (cache / FAR_NAME).write_bytes(b"not a far archive")
    normalizer = Normalizer(cache)
    assert normalizer.load(), normalizer.load_error
    assert normalizer.cardinal("trinta e um", -1) == 31
    assert (cache / FAR_NAME).stat().st_size > 1000
