"""callqa: offline call analysis for contact centres."""

from callqa.pipeline import __version__

__all__ = ["__version__"]
