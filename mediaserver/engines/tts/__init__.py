"""Text-to-speech engines (run inside worker processes)."""
