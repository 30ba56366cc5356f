"""Scoring: indicators -> competencies -> flags -> nominations."""
