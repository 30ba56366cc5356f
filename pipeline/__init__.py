"""callqa pipeline: the library (never imports Prefect)."""

__version__ = "0.1.0"
