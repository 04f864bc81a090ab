"""Engines by manifest name, imported only when asked for (heavy libraries stay in workers)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any


def instantiate(table: Mapping[str, tuple[str, str]], kind: str, engine_name: str) -> Any:
    """A new instance of `table[engine_name]` (module, class); ValueError naming the known ones."""
    try:
        module_name, class_name = table[engine_name]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown {kind} engine {engine_name!r}; known engines: {known}") from None
    return getattr(import_module(module_name), class_name)()
