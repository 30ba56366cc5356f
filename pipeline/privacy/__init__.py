"""Redaction of transcripts and audio (personal data never reaches scores or reports)."""
