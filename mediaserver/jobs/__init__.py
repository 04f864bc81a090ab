"""Transcription jobs for back-offices: a durable queue (SQLite), a runner beside live calls,
and a webhook on completion."""
