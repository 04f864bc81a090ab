"""CLI verbs, one module each; `mediaserver.cli` wires them into one parser."""
