"""UI strings of the web app: `configs/ui/<lang>.yaml` (key `ui.<lang>` of the configuration), the
same keys in each; the languages offered are those of `configs/languages.yaml` that have UI strings.
A string a language lacks is shown in English (pipeline/languages.py `FALLBACK`)."""

from __future__ import annotations

from typing import Any

from callqa.pipeline.languages import FALLBACK, default_ui, ui_catalogs


def catalog(lang: str) -> dict[str, str]:
    """Every string of a language in the project's own configs/ui/, keyed `section.name`."""
    return default_ui(lang)


def _fill(text: str, values: dict[str, Any]) -> str:
    if values:
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError):
            return text
    return text


class UiStrings:
    """The UI strings of one configuration: `translate`, the languages offered, `pick`."""

    def __init__(self, config: Any):
        self.catalogs = ui_catalogs(config)
        if not self.catalogs:
            from callqa.pipeline.errors import ConfigError

            raise ConfigError("configs/ui", "ui", "no UI strings for any language of languages.known")
        self.languages: tuple[str, ...] = tuple(self.catalogs)
        known = config.section("languages").known
        self.names = {code: known[code].name for code in self.languages}

    def translate(self, lang: str, key: str, **values: Any) -> str:
        """The string for `key` with {placeholders} filled in; the key itself when missing."""
        cat = self.catalogs.get(lang) or self.catalogs.get(FALLBACK) or next(iter(self.catalogs.values()))
        return _fill(cat.get(key, key), values)

    def pick(self, query: str | None, cookie: str | None, accept: str | None, default: str) -> str:
        """?lang= first, then the language cookie, then the browser's Accept-Language."""
        for candidate in (query, cookie):
            if candidate in self.catalogs:
                return candidate  # type: ignore[return-value]
        for part in (accept or "").split(","):
            code = part.split(";")[0].strip().lower()
            for c in (code, code.split("-")[0]):
                if c in self.catalogs:
                    return c
        return default if default in self.catalogs else self.languages[0]


def translate(lang: str, key: str, **values: Any) -> str:
    """`UiStrings.translate` over the project's own UI strings (no configuration at hand)."""
    try:
        text = catalog(lang).get(key)
    except ValueError:
        text = None
    if text is None:
        text = catalog(FALLBACK).get(key, key)
    return _fill(text, values)
