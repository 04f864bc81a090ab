"""Speech-to-text engines (run inside worker processes)."""
