"""Configuration schemas of this part of the pipeline (see config.SECTION_MODULES)."""

from __future__ import annotations

CONFIG_SECTIONS: dict = {}
