"""Scores for one call: indicators -> competencies -> flags -> nominations.

`score_call(result, config)` runs after the signals (pipeline/process.py) and
fills `result.difficult`, `indicators`, `competencies`, `flags`, `categories`, `nominations`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from callqa.pipeline.scoring.categories import apply_categories
from callqa.pipeline.scoring.competency import DEFAULT_ROLE, overall_score, score_competencies
from callqa.pipeline.config import Config
from callqa.pipeline.scoring.flags import evaluate_flags
from callqa.pipeline.scoring.indicators import build_context, score_indicators
from callqa.pipeline.scoring.nominate import nominate
from callqa.pipeline.speech.roles import role_uncertainty
from callqa.pipeline.scoring.settings import check_scoring_config
from callqa.pipeline.types import CallResult


def signals_dict(signals: Any) -> Mapping[str, Any]:
    """The serialized signals (CONTRACTS.md shape) of a CallSignals or a dict."""
    if signals is None:
        return {}
    if isinstance(signals, Mapping):
        return signals
    return signals.serialize()


def score_call(result: CallResult, config: Config) -> CallResult:
    """Fill the scoring sections of `result` (in place) and return it."""
    check_scoring_config(config)
    role = result.meta.role or DEFAULT_ROLE
    ctx = build_context(signals_dict(result.signals), result.transcript, result.meta, result.language, config,
                        asr_no_words=(result.processing or {}).get("asr_no_words"))
    indicators = score_indicators(ctx)
    competencies = score_competencies(indicators, config, role, result.language)
    uncertain = role_uncertainty(result.transcript, config)
    if uncertain is not None and not ctx.asr_no_words:  # mono roles not told apart: nothing is scored, each says why
        competencies = [replace(c, reason=uncertain) if c.score is None else c for c in competencies]
    flags = evaluate_flags(ctx)
    result.difficult = ctx.difficult
    result.difficulty = ctx.difficulty
    result.indicators = indicators
    result.competencies = competencies
    result.flags = flags
    apply_categories(result, config)  # saved searches (configs/categories.yaml): categories, their flags
    result.nominations = nominate(ctx, competencies, flags, config)
    overall = overall_score(competencies, config, role)
    result.processing["scoring"] = {"role": role, "overall_score": None if overall is None else round(overall, 2)}
    if ctx.asr_no_words:  # the first cause: without credible words the roles cannot be known either
        result.processing["scoring"]["not_scored"] = f"asr_no_words: {ctx.asr_no_words.get('note')}"
    elif uncertain is not None:
        result.processing["scoring"]["not_scored"] = uncertain
    return result
