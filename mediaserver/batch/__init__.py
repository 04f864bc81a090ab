"""Transcription of whole files (REST uploads and the CLI)."""
