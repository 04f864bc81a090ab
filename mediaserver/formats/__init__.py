"""Output formats both the CLI and the HTTP API write: transcripts and audio."""
