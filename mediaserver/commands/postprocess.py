"""`mediaserver postprocess`: post-process transcripts from stdin, one per line, in order.

Plain mode writes the formatted text of each line. `--jsonl` reads `{"text": ..., "hot_words":
[...]}` objects and writes `{"text": ..., "entities": [...]}`; a line that cannot be read gets
`{"error": ...}` in its place, the run goes on, and the exit status is 1 at the end.
Every result is flushed as soon as it is written, so the command can sit behind a pipe.

`--explain` says which rule made each change, for a support engineer looking into a disputed
transcript: in plain mode every output line is followed by one indented line per change,
`  [start:end] rule: "what was said" -> "what was written"` (offsets in the output line); with
`--jsonl` each object gets a `"rewrites"` list of `{rule, before, after, start, end}`. Under
`--redact` the input of a masked entity is masked in the explanation too.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from mediaserver.config import Settings
from mediaserver.domain.normalizer import Normalizer, itn_cache_dir
from mediaserver.domain.pipeline import PostprocessOptions, Postprocessor, Rewrite
from mediaserver.observability import Metrics


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "postprocess",
        help="ITN, entities, hot words and redaction for transcripts read from stdin",
    )
    p.add_argument("--hot-words", metavar="A,B", help="comma-separated hot words")
    p.add_argument("--no-itn", action="store_true", help="leave spoken numbers as words")
    p.add_argument("--no-entities", action="store_true", help="do not format entities")
    p.add_argument("--redact", action="store_true", help="mask CPF/CNPJ/phone/card digits")
    p.add_argument("--jsonl", action="store_true", help="JSON objects in and out, one per line")
    p.add_argument(
        "--explain", action="store_true", help="show which rule made each change, and where"
    )
    p.add_argument(
        "--no-nemo", action="store_true", help="use only the built-in ITN rules (no NeMo)"
    )
    p.add_argument(
        "--build-cache",
        action="store_true",
        help="compile the ITN grammars into the models cache directory and exit",
    )
    p.set_defaults(func=run)


def _options(args: argparse.Namespace, settings: Settings) -> PostprocessOptions:
    pp = settings.postprocess
    hot_words = pp.hot_words
    if args.hot_words is not None:
        hot_words = tuple(w.strip() for w in args.hot_words.split(",") if w.strip())
    return PostprocessOptions(
        itn=pp.itn and not args.no_itn,
        entities=pp.entities and not args.no_entities,
        redact=pp.redact or args.redact,
        hot_words=hot_words,
    )


def run(
    args: argparse.Namespace,
    settings: Settings,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    metrics = Metrics()
    normalizer = Normalizer(
        itn_cache_dir(settings.models.path),
        failures=metrics.itn_failures,
        use_nemo=not args.no_nemo,
    )
    if args.build_cache:
        if not normalizer.load():
            print(f"mediaserver: could not build the ITN grammars: {normalizer.load_error}",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"ITN grammars ready in {normalizer.cache_dir}")
        return 0
    source = stdin if stdin is not None else _utf8(sys.stdin)
    sink = stdout if stdout is not None else _utf8(sys.stdout)
    processor = Postprocessor(normalizer, hot_word_hits=metrics.hot_word_hits)
    options = _options(args, settings)
    handle = _jsonl_line if args.jsonl else _plain_line
    failed = 0
    for line in iter(source.readline, ""):
        out, ok = handle(processor, options, line.rstrip("\r\n"), args.explain)
        failed += not ok
        sink.write(out + "\n")
        sink.flush()
    if failed:
        print(f"mediaserver: {failed} input line(s) could not be read", file=sys.stderr)
    return 1 if failed else 0


def _utf8(stream: TextIO) -> TextIO:
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(encoding="utf-8", errors="replace")
    return stream


def _plain_line(
    processor: Postprocessor, options: PostprocessOptions, line: str, explain: bool
) -> tuple[str, bool]:
    if not explain:
        return processor.process(line, options).text, True
    trace: list[Rewrite] = []
    text = processor.process(line, options, trace).text
    return "\n".join([text, *(_explanation(r) for r in trace)]), True


def _explanation(rewrite: Rewrite) -> str:
    before = json.dumps(rewrite.before, ensure_ascii=False)
    after = json.dumps(rewrite.after, ensure_ascii=False)
    return f"  [{rewrite.start}:{rewrite.end}] {rewrite.rule}: {before} -> {after}"


def _jsonl_line(
    processor: Postprocessor, options: PostprocessOptions, line: str, explain: bool
) -> tuple[str, bool]:
    try:
        request = json.loads(line)
    except json.JSONDecodeError as exc:
        return _error(f"invalid JSON: {exc.msg} at column {exc.colno}"), False
    if not isinstance(request, dict) or not isinstance(request.get("text"), str):
        return _error('expected an object with a string "text"'), False
    hot_words = request.get("hot_words")
    if hot_words is not None:
        if not isinstance(hot_words, list) or not all(isinstance(w, str) for w in hot_words):
            return _error('"hot_words" must be a list of strings'), False
        options = PostprocessOptions(
            options.itn, options.entities, options.redact, tuple(hot_words)
        )
    trace: list[Rewrite] | None = [] if explain else None
    result = processor.process(request["text"], options, trace)
    reply: dict[str, object] = {
        "text": result.text,
        "entities": [e.to_dict() for e in result.entities],
    }
    if trace is not None:
        reply["rewrites"] = [r.to_dict() for r in trace]
    return json.dumps(reply, ensure_ascii=False), True


def _error(message: str) -> str:
    return json.dumps({"error": message})
