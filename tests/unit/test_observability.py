from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from mediaserver.config import LoggingSettings
from mediaserver.observability import Metrics, configure_logging


def test_json_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    configure_logging(LoggingSettings(level="info", format="auto"), stream=out)
    structlog.get_logger("t").info("call.started", call_id="abc", codec="PCMU")
    structlog.get_logger("t").debug("hidden.below.level")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "call.started"
    assert record["call_id"] == "abc"
    assert record["level"] == "info"
    assert "timestamp" in record


def test_console_format_is_not_json() -> None:
    out = io.StringIO()
    configure_logging(LoggingSettings(format="console"), stream=out)
    structlog.get_logger("t").warning("engine.restart", attempt=2)
    text = out.getvalue()
    assert "engine.restart" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(LoggingSettings(level="chatty"), stream=io.StringIO())


def test_metrics_registries_are_independent() -> None:
    a, b = Metrics(), Metrics()
    a.hot_word_hits.inc(3)
    assert a.registry.get_sample_value("mediaserver_hot_word_hits_total") == 3
    assert b.registry.get_sample_value("mediaserver_hot_word_hits_total") == 0


def test_library_records_are_json_too() -> None:
    import logging

    out = io.StringIO()
    configure_logging(LoggingSettings(level="info", format="json"), stream=out)
    # A name no other test configures (in-process uvicorn servers give `uvicorn.*` their own).
    logging.getLogger("tests.somelibrary").info("Processing audio with duration 00:04.950")
    record = json.loads(out.getvalue().splitlines()[-1])
    assert record["event"] == "Processing audio with duration 00:04.950"
    assert record["logger"] == "tests.somelibrary"
    assert record["level"] == "info"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("< authorization: Bearer k3y-secret", "k3y-secret"),
        ("> Sec-WebSocket-Protocol: mediaserver, api-key.k3y-secret", "k3y-secret"),
        ('127.0.0.1:1 - "WebSocket /v1/realtime?model=m&api_key=k3y-secret" [accepted]',
         "k3y-secret"),
        ("< TEXT '{\"type\": \"tts.speak\", \"text\": \"meu cpf 123\"}' [40 bytes]", "cpf 123"),
        ("< BINARY 00 01 02 03 [4 bytes]", "00 01"),
        ("< cookie: session=abc", "session=abc"),
    ],
)  # fmt: skip
def test_library_records_are_scrubbed(
    line: str, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    configure_logging(LoggingSettings(level="debug", format="json"), stream=out)
    # A library's own logger (the lines are uvicorn's and websockets'), named apart from
    # "uvicorn": in-process servers of other tests leave their own handlers and levels there.
    library = logging.getLogger("library.scrubtest")
    monkeypatch.setattr(library, "level", library.level)
    library.setLevel(logging.NOTSET)
    library.debug("%s", line)
    record = json.loads(out.getvalue().splitlines()[-1])
    assert secret not in record["event"]
    assert "<redacted>" in record["event"]


def test_our_own_fields_are_scrubbed_too() -> None:
    out = io.StringIO()
    configure_logging(LoggingSettings(level="info", format="json"), stream=out)
    structlog.get_logger("t").info("ws.refused", url="/v1/realtime?api_key=k3y-secret")
    assert "k3y-secret" not in out.getvalue()
