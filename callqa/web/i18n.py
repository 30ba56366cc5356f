"""UI strings in Russian and English: `i18n/<lang>.yaml`, same keys in each."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

LANGS = ("ru", "en")
I18N_DIR = Path(__file__).resolve().parent / "i18n"


def _flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """Every string of a language, keyed `section.name`."""
    if lang not in LANGS:
        raise ValueError(f"language must be one of {', '.join(LANGS)}, got {lang!r}")
    path = I18N_DIR / f"{lang}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return _flatten(data)


def translate(lang: str, key: str, **values: Any) -> str:
    """The string for `key` with {placeholders} filled in; the key itself when missing."""
    text = catalog(lang).get(key)
    if text is None:
        text = catalog("en").get(key, key)
    if values:
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def pick_language(query: str | None, cookie: str | None, accept: str | None, default: str) -> str:
    """?lang= first, then the language cookie, then the browser's Accept-Language."""
    for candidate in (query, cookie):
        if candidate in LANGS:
            return candidate  # type: ignore[return-value]
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return default
