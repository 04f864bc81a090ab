"""The per-call core: state machine, ring buffer, WAL and the session that composes them (pure)."""
