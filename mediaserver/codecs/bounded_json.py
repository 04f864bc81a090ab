"""JSON text from clients, parsed with a bound on nesting.

`json.loads` recurses once per nesting level: 60 000 `[` in a 60 kB body end in RecursionError
(an unexpected 500, or worse on a thread with a small stack). `parse_json` counts the nesting
first, skipping string contents, and refuses past `max_depth` with a reason a client can act on.
Size limits belong to whoever reads the bytes (HTTP body, WebSocket frame); this is pure.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

MAX_DEPTH: Final = 32  # call options nest 3 deep; nothing a client sends needs more
# A complete string (escapes included) or one bracket: string contents never count as nesting.
_TOKENS: Final = re.compile(r'"(?:[^"\\]+|\\.)*"|[\[\]{}]', re.DOTALL)


class JsonError(ValueError):
    """The text is not JSON, or nests deeper than allowed: the sender's fault. The message
    completes "the body is ..." / "the message is ..."."""


def nesting_depth(text: str, stop_after: int = MAX_DEPTH) -> int:
    """The deepest array/object nesting in `text`, counting at most to `stop_after` + 1."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_after:
                    break
        elif token in "]}":
            depth -= 1
    return deepest


def parse_json(data: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in `data` (UTF-8 when bytes); JsonError saying what is wrong."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonError("not UTF-8 text") from None
    else:
        text = data
    if nesting_depth(text, max_depth) > max_depth:
        raise JsonError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise JsonError(f"not valid JSON: {exc.msg} at {where}") from None
    except RecursionError:  # a smaller stack than expected: still the sender's nesting
        raise JsonError(f"nested deeper than {max_depth} levels") from None
