"""Per-turn sentiment in -1..1, two backends.

- ``transformers``: a text-classification model by name or local directory,
  loaded once (cached), run in batches; its labels are mapped to -1..1 (the
  configured ``label_map``, else the label names "negative" / "neutral" /
  "positive" in any case and order, or "1 star".."5 stars"; unnamed labels
  such as LABEL_0 need ``label_map``, a clear error otherwise), and a turn's
  score is the probability-weighted mean of its labels' values.
- ``lexicon`` (default; works with no model): valences from
  ``configs/lexicons/<lang>.yaml`` (``sentiment``), flipped and damped after a
  negation within a few words ("не плохо" is mildly positive), scaled by an
  intensifier right before ("очень плохо"), summed per turn and squashed with
  ``s / sqrt(s^2 + alpha)``. Emotion words in a sentence ending with "!" are
  scaled by ``exclamation``; insults and sarcasm markers ("спасибо за ничего",
  "thanks for nothing") are negative entries; topic words (проблема, error) none.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from callqa.pipeline.errors import ConfigError, ModelUnavailable


class LexiconSentiment:
    """Lexicon scorer over a call's token stream (pipeline.signals.text.CallTokens)."""

    name = "lexicon"

    def __init__(self, negations: Iterable[str], intensifiers: Mapping[str, float], window: int,
                 negation_scalar: float, alpha: float, negation_bridge: Iterable[str] = (),
                 exclamation: float = 1.0):
        self.negations = frozenset(negations)
        # words that may stand between a negation and what it negates ("не очень плохо", "not so bad");
        # any other word ends the negation's scope ("does not work again": "not" negates "work", not
        # "again"). Empty: any word within the window (the old behaviour).
        self.bridge = frozenset(negation_bridge)
        self.intensifiers = dict(intensifiers)
        self.window = window
        self.negation_scalar = negation_scalar
        self.alpha = alpha
        # an emotion word in a sentence that ends with "!" is said with more feeling ("Это ужасно!");
        # an exclamation without an emotion word ("Алло!") stays neutral
        self.exclamation = exclamation

    def valence(self, value: float, first: int, toks: Any) -> float:
        """`value` of a sentiment phrase starting at token `first`, after negation and intensifiers."""
        turn = toks.turn[first]
        j = first - 1
        if j >= 0 and toks.turn[j] == turn and not toks.punct_before[first]:
            mult = self.intensifiers.get(toks.norm[j]) or self.intensifiers.get(toks.lemma[j])
            if mult:
                value *= mult
        # a negation within a few words before, in the same clause ("нет, это всё. Спасибо" is not negated)
        for j in range(first - 1, max(-1, first - 1 - self.window), -1):
            if toks.turn[j] != turn or toks.punct_before[j + 1]:
                break
            if toks.norm[j] in self.negations or toks.lemma[j] in self.negations:
                value *= self.negation_scalar
                break
            if self.bridge and not ({toks.norm[j], toks.lemma[j]} & (self.bridge | self.intensifiers.keys())):
                break
        return value

    def exclaimed(self, first: int, toks: Any) -> bool:
        """The sentence of token `first` ends with "!" (or "?!")."""
        sent = toks.sentences[toks.sent[first]]
        last = sent[1]
        text = toks.turn_text[toks.turn[last]]
        tail = text[toks.char[last][1]:toks.char[last][1] + 4]
        return "!" in tail.split(" ")[0] if tail else False

    def squash(self, s: float) -> float:
        return s / math.sqrt(s * s + self.alpha)

    def score_turns(self, toks: Any, n_turns: int, hits: Sequence[tuple[int, float]]) -> list[float]:
        """Per turn: hits are (first token, signed valence) of sentiment phrases, overlaps removed."""
        sums = [0.0] * n_turns
        for first, value in hits:
            v = self.valence(value, first, toks)
            if self.exclamation != 1.0 and self.exclaimed(first, toks):
                v *= self.exclamation
            sums[toks.turn[first]] += v
        return [round(self.squash(s), 4) for s in sums]


# Label names a sentiment model's config may carry (id2label), lower-cased -> value. Published Russian
# models use these, in different orders: cointegrated/rubert-tiny-sentiment-balanced
# (negative, neutral, positive), seara/rubert-tiny2-russian-sentiment (neutral, positive, negative),
# blanchefort/rubert-base-cased-sentiment (NEUTRAL, POSITIVE, NEGATIVE); the order never matters,
# the names do. Models whose labels are LABEL_0..LABEL_n say nothing: they need `label_map`.
LABEL_NAMES = {"negative": -1.0, "neg": -1.0, "neutral": 0.0, "neu": 0.0, "positive": 1.0, "pos": 1.0,
               "very negative": -1.0, "very positive": 1.0, "mixed": 0.0}


def _infer_value(label: str) -> float | None:
    """The value a label's name states, or None when the name says nothing (LABEL_0)."""
    low = label.strip().lower().replace("_", " ")
    if low in LABEL_NAMES:
        return LABEL_NAMES[low]
    stars = re.match(r"^\s*([1-5])\s*stars?\s*$", low)
    if stars:
        return (int(stars.group(1)) - 3) / 2.0
    return None


def label_values(id2label: Mapping[int, str], label_map: Mapping[str, float], model: str,
                 config_file: str = "configs/models.yaml") -> dict[str, float]:
    """Model label (lower-case) -> value in -1..1: `label_map` (keys: label names, any case, or class
    indexes "0", "1", ...) first, else the label's name. A label neither gives is an error naming
    `models.sentiment.label_map`, as is a `label_map` key the model does not have."""
    labels = [str(id2label[i]) for i in sorted(id2label, key=int)]
    wanted = {str(k).strip().lower(): float(v) for k, v in label_map.items()}
    key = "sentiment.label_map"
    for k, v in wanted.items():
        if not -1.0 <= v <= 1.0:
            raise ConfigError(config_file, key, f"{k}: {v:g} is outside -1..1")
    known = {lab.lower() for lab in labels} | {str(i) for i in range(len(labels))}
    unknown = sorted(str(k) for k in label_map if str(k).strip().lower() not in known)
    if unknown:
        raise ConfigError(config_file, key, f"{', '.join(unknown)}: not a label of {model} "
                                            f"(its labels: {', '.join(labels)})")
    out: dict[str, float] = {}
    missing = []
    for i, lab in enumerate(labels):
        v = wanted.get(lab.lower(), wanted.get(str(i)))
        if v is None:
            v = _infer_value(lab)
        if v is None:
            missing.append(lab)
        else:
            out[lab.lower()] = v
    if missing:
        raise ConfigError(config_file, key, f"the labels {', '.join(missing)} of {model} do not say what they "
                                            f"mean; map each to -1..1, e.g. "
                                            f"{{{', '.join(f'{m}: ...' for m in missing)}}} (see the model card)")
    return out


@lru_cache(maxsize=4)
def load_classifier(model: str, device: str = "cpu") -> Any:
    """A transformers text-classification pipeline, loaded once per (model, device)."""
    path = Path(model).expanduser()
    source = str(path) if path.exists() else model
    try:
        from transformers import pipeline

        return pipeline("text-classification", model=source, tokenizer=source, device=device, top_k=None)
    except Exception as e:  # missing files, no network, wrong kind of model
        raise ModelUnavailable(f"sentiment model {model!r} cannot be loaded: {e}") from None


class TransformersSentiment:
    """A text-classification model; labels mapped to -1..1."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 16,
                 label_map: Mapping[str, float] | None = None, max_length: int = 256,
                 config_file: str = "configs/models.yaml"):
        if not model:
            raise ModelUnavailable("sentiment backend 'transformers' needs models.sentiment.model "
                                   "(a model name or a local directory)")
        self.model = model
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self.label_map = dict(label_map or {})
        self.max_length = max_length
        self.config_file = config_file  # named in label-map errors

    def _values(self, clf: Any) -> dict[str, float]:
        id2label = getattr(clf.model.config, "id2label", {}) or {}
        return label_values(id2label, self.label_map, self.model, self.config_file)

    def score_texts(self, texts: Sequence[str]) -> list[float | None]:
        """One score per text (None for empty text)."""
        idx = [i for i, t in enumerate(texts) if t and t.strip()]
        out: list[float | None] = [None] * len(texts)
        if not idx:
            return out
        clf = load_classifier(self.model, self.device)
        values = self._values(clf)
        preds = clf([texts[i] for i in idx], batch_size=self.batch_size, truncation=True,
                    max_length=self.max_length)
        for i, pred in zip(idx, preds):
            if isinstance(pred, dict):
                pred = [pred]
            total = sum(p["score"] for p in pred) or 1.0
            s = sum(p["score"] * values.get(str(p["label"]).lower(), 0.0) for p in pred) / total
            out[i] = round(max(-1.0, min(1.0, s)), 4)
        return out
