"""One severity scale for flags: the flag rules (`configs/flags.yaml`), the store's
`severity_rank` column, the review queue, the call page, the weekly QA sample
(`sampling.flagged_min_severity`), the nightly alerts (`alerts.min_severity`)
and the nightly report all rank a severity here.

    info < low < medium < high < critical          rank 0 .. 4 (higher is more severe)

Accepted in configs as well, for older files: `minor` = low, `major` = high (any
case, surrounding spaces ignored). A config word is stored in its canonical form
(`major` -> `high`). Thresholds (`alerts.min_severity`) may also be a rank number.
Severities read back from stored results rank leniently: an unknown word as
medium, a number as itself, none as info.
"""

from __future__ import annotations

from typing import Annotated, Any, Iterable

from pydantic import AfterValidator

LEVELS: tuple[str, ...] = ("info", "low", "medium", "high", "critical")  # least to most severe
ALIASES: dict[str, str] = {"minor": "low", "major": "high"}
RANK: dict[str, int] = {**{w: i for i, w in enumerate(LEVELS)}, **{a: LEVELS.index(c) for a, c in ALIASES.items()}}
UNKNOWN_RANK = RANK["medium"]


def known_words() -> str:
    return ", ".join(LEVELS) + " (" + ", ".join(f"{a} = {c}" for a, c in ALIASES.items()) + ")"


def canonical(word: Any) -> str:
    """The scale's word for a config's severity word; ValueError naming the known words."""
    w = str(word).strip().lower() if isinstance(word, str) else None
    if w not in RANK:
        raise ValueError(f"unknown severity {word!r} (known: {known_words()})")
    return ALIASES.get(w, w)


def threshold(value: Any) -> str | int:
    """A severity floor from a config: a word of the scale (canonical) or a rank number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return canonical(value)


def rank(severity: Any) -> int:
    """Rank of a stored or configured severity: numbers as themselves, words by the scale,
    an unknown word as medium, none as info."""
    if isinstance(severity, bool) or severity is None:
        return 0
    if isinstance(severity, (int, float)):
        return int(severity)
    return RANK.get(str(severity).strip().lower(), UNKNOWN_RANK)


def worst(severities: Iterable[Any]) -> str | None:
    """The most severe of some severity words (the first of the most severe); None when none is given."""
    words = [s for s in severities if s is not None]
    return max(words, key=rank) if words else None


# pydantic field types for configs
Severity = Annotated[str, AfterValidator(canonical)]
SeverityFloor = Annotated[str | int, AfterValidator(threshold)]

__all__ = ["LEVELS", "ALIASES", "RANK", "Severity", "SeverityFloor", "canonical", "threshold", "rank", "worst"]
