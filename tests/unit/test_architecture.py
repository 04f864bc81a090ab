"""The layout rules of ARCHITECTURE.md, checked on the source: no import cycle, the pure cores
import nothing from the runtime above them, the CLI does not depend on the HTTP layer, no module
grows past 400 lines.

Imports are read from the AST (every `import`/`from` anywhere in a module, including those under
`TYPE_CHECKING` and inside functions): a cycle hidden behind a lazy import is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mediaserver"
MAX_LINES = 400
GENERATED = ("_pb2.py", "_pb2_grpc.py")

# Pure cores and what they may not import (package prefixes, dotted).
RUNTIME = (
    "mediaserver.transports",
    "mediaserver.calls",
    "mediaserver.engines",
    "mediaserver.api",
    "mediaserver.app",
    "mediaserver.runtime",
    "mediaserver.commands",
    "mediaserver.batch",
)
PURE = ("codecs", "audio", "domain", "session")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, name: str, known: dict[str, Path]) -> Iterator[str]:
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module pkg.mod when there is one.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target.startswith("mediaserver"):
                yield target


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        edges[name] = {
            target
            for target in imports_of(path, name, known)
            if target in known and target != name
        }
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    # Importing `a.b.c` runs `a/__init__` and `a/b/__init__` first; those edges are implied, not
    # cycles (a package importing its own submodules is the ordinary `__init__` re-export).
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in sorted(edges[node]):
            if colour[nxt] == grey:
                return [*stack[stack.index(nxt) :], nxt]
            if colour[nxt] == white and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = black
        return None

    for node in sorted(edges):
        if colour[node] == white and (found := visit(node)):
            return found
    return None


def test_there_is_no_import_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", PURE)
def test_pure_cores_import_nothing_from_the_runtime(package: str) -> None:
    bad = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        if name.startswith(f"mediaserver.{package}")
        for target in targets
        if target.startswith(RUNTIME)
    )
    assert bad == []


def test_the_cli_does_not_depend_on_the_http_layer() -> None:
    bad = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        if name.startswith("mediaserver.commands")
        for target in targets
        if target.startswith("mediaserver.api")
    )
    assert bad == []


def test_transports_are_wire_adapters_only() -> None:
    # The per-call runtime sits below the transports: a call never reaches back up into one.
    bad = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        if name.startswith(("mediaserver.calls", "mediaserver.engines", "mediaserver.session"))
        for target in targets
        if target.startswith("mediaserver.transports")
    )
    assert bad == []


def test_no_module_is_over_the_size_limit() -> None:
    long = sorted(
        f"{path.relative_to(PACKAGE)}: {n} lines"
        for path in PACKAGE.rglob("*.py")
        if not path.name.endswith(GENERATED)
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    )
    assert long == []


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
