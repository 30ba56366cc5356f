"""The languages of a configuration and their strings for people.

Which languages exist is `configs/languages.yaml` (`languages.known`, schema in
pipeline/settings.py); UI and report strings are `configs/ui/<code>.yaml` (key
`ui.<code>`), the same keys in each. A string a language lacks is shown in
`FALLBACK` (English: every string and label exists in ru and en).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

FALLBACK = "en"


def known(config: Any) -> dict[str, Any]:
    """code -> LanguageDef, in the order configs/languages.yaml lists them."""
    return dict(config.section("languages").known)


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested strings as one mapping keyed `section.name`."""
    out: dict[str, str] = {}
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


def ui_catalogs(config: Any) -> dict[str, dict[str, str]]:
    """code -> every UI string of that language (missing keys filled from `FALLBACK`), for each
    language of `languages.known` that has UI strings (`ui.<code>`)."""
    raw = config.get("ui", {}) or {}
    base = flatten(raw.get(FALLBACK) or {})
    return {code: {**base, **flatten(raw[code] or {})} for code in known(config) if code in raw}


def ui_strings(config: Any, lang: str, section: str | None = None) -> dict[str, str]:
    """The UI strings of `lang` (else `FALLBACK`'s); with `section` ("report.scorecard") only that
    section's, keyed by the rest of the key."""
    cats = ui_catalogs(config)
    cat = cats.get(lang) or cats.get(FALLBACK) or {}
    if section is None:
        return cat
    pre = section + "."
    return {k[len(pre):]: v for k, v in cat.items() if k.startswith(pre)}


def label_language(config: Any, lang: str | None) -> str:
    """`lang` when the configuration knows it, else `FALLBACK` (reports and labels in a known language)."""
    return lang if lang and lang in known(config) else FALLBACK


@lru_cache(maxsize=None)
def default_ui(lang: str) -> dict[str, str]:
    """UI strings of `lang` from the project's own configs/ui/<lang>.yaml (no configuration at hand)."""
    import yaml

    from callqa.pipeline.config import default_config_dir

    path = default_config_dir() / "ui" / f"{lang}.yaml"
    if not path.is_file():
        raise ValueError(f"no UI strings for {lang!r} ({path})")
    return flatten(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
