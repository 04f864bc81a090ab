"""Finals go through the domain pipeline on its own thread; options come from the call."""

from __future__ import annotations

import threading

from mediaserver.calls.postprocess import PassThrough, ThreadedPostprocess
from mediaserver.config import Settings
from mediaserver.domain.normalizer import Normalizer
from mediaserver.domain.pipeline import Postprocessor
from mediaserver.observability import Metrics
from mediaserver.session.call_options import parse_call_options

SPOKEN = (
    "quero um pix de cem reais para o cpf um dois três quatro cinco seis sete oito nove zero nove"
)


def offline() -> Postprocessor:
    return Postprocessor(Normalizer(None, use_nemo=False))


async def test_finals_get_itn_and_entities_off_the_loop(settings: Settings) -> None:
    threads: list[str] = []

    def build() -> Postprocessor:
        threads.append(threading.current_thread().name)
        return offline()

    metrics = Metrics()
    post = ThreadedPostprocess(build, metrics)
    try:
        result = await post(SPOKEN, parse_call_options({}, settings))
        again = await post(SPOKEN, parse_call_options({"redact": True}, settings))
        plain = await post(SPOKEN, parse_call_options({"itn": False, "entities": False}, settings))
        empty = await post("", parse_call_options({}, settings))
    finally:
        post.close()
    assert result.raw_text == SPOKEN
    assert "R$ 100,00" in result.text
    assert "123.456.789-09" in result.text
    assert [(e["type"], e["value"]) for e in result.entities] == [
        ("money", "100.00"),
        ("cpf", "12345678909"),
    ]
    assert "123.456.789-09" not in again.text
    assert again.text.endswith("-09")
    assert plain.text == SPOKEN
    assert plain.entities == []
    assert (empty.text, empty.raw_text, empty.entities) == ("", "", [])
    # Built once, on the post-processing thread, never on the loop's.
    assert len(threads) == 1
    assert threads[0].startswith("postprocess")
    assert threads[0] != threading.current_thread().name


async def test_pass_through(settings: Settings) -> None:
    result = await PassThrough()(SPOKEN, parse_call_options({}, settings))
    assert (result.text, result.raw_text, result.entities) == (SPOKEN, SPOKEN, [])
