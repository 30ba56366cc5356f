"""A call's words as one flat token stream with times, turns and sentences.

Word tokens only (punctuation becomes flags on its neighbours and sentence
boundaries). When a turn has word timings each token takes its word's times;
otherwise times are interpolated over the turn by character position.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from ...models import nlp
from ..types import Transcript

_SENT_END = frozenset(".?!…")
normalise = nlp.normalise
lemma = nlp.lemma


def _is_word(norm: str) -> bool:
    return any(c.isalnum() for c in norm)


@dataclass
class CallTokens:
    """Parallel lists, one entry per word token of the call, in turn order."""

    language: str
    text: list[str] = field(default_factory=list)
    norm: list[str] = field(default_factory=list)
    lemma: list[str] = field(default_factory=list)
    turn: list[int] = field(default_factory=list)
    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    cap: list[bool] = field(default_factory=list)  # starts with a capital (or the turn has no capitals)
    sent: list[int] = field(default_factory=list)  # sentence id
    punct_before: list[bool] = field(default_factory=list)  # punctuation between the previous word and this
    punct_after: list[bool] = field(default_factory=list)
    char: list[tuple[int, int]] = field(default_factory=list)  # span in its turn's text
    turn_text: list[str] = field(default_factory=list)  # the analysed text of each turn
    turn_first: list[int] = field(default_factory=list)  # first token index of each turn
    turn_punctuated: list[bool] = field(default_factory=list)  # the turn has sentence punctuation
    # per sentence: (first token, last token, ends with "?")
    sentences: list[tuple[int, int, bool]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.norm)

    def sent_end(self, i: int) -> int:
        """Index after the last token of token i's sentence."""
        return self.sentences[self.sent[i]][1] + 1

    def quote(self, first: int, last: int) -> str:
        """The words from token `first` to `last` as written in their turn."""
        t = self.turn[first]
        if self.turn[last] != t:
            last = self.turn_first[t + 1] - 1 if t + 1 < len(self.turn_first) else len(self) - 1
        return self.turn_text[t][self.char[first][0]:self.char[last][1]]


def tokenize_transcript(transcript: Transcript, lang: str) -> CallTokens:
    """Tokenise every turn of `transcript` with the language's pipeline."""
    out = CallTokens(language=lang)
    texts: list[str] = []
    word_spans: list[tuple[list, list[int]]] = []
    for turn in transcript.turns:
        words = [w for w in turn.words if w.text.strip()]
        spans: list[int] = []
        if words:
            parts, pos = [], 0
            for w in words:
                s = w.text.strip()
                parts.append(s)
                spans.append(pos)
                pos += len(s) + 1
            texts.append(" ".join(parts))
        else:
            texts.append(turn.text)
        word_spans.append((words, spans))
    tokenized = nlp.tokenize_many(texts, lang)
    for ti, turn in enumerate(transcript.turns):
        out.turn_first.append(len(out.norm))
        words, spans = word_spans[ti]
        text = texts[ti]
        out.turn_text.append(text)
        has_upper = any(c.isupper() for c in text)
        n_chars = max(1, len(text))
        dur = turn.end - turn.start
        t0 = turn.start
        first_tok = len(out.norm)
        sent_open = False
        punct = False
        punctuated = False
        for surface, idx, _sp in tokenized[ti]:
            norm = normalise(surface)
            if not _is_word(norm):
                punct = True
                if not _SENT_END.isdisjoint(surface):
                    punctuated = True
                    if sent_open:
                        f, _, _ = out.sentences[-1]
                        out.sentences[-1] = (f, len(out.norm) - 1, "?" in surface)
                        sent_open = False
                if len(out.norm) > first_tok:
                    out.punct_after[-1] = True
                continue
            i = len(out.norm)
            if not sent_open:
                out.sentences.append((i, i, False))
                sent_open = True
            if len(norm) > 1 and norm[-1] == ".":  # abbreviations: "Mr." ~ "mr"
                norm = norm.rstrip(".")
                surface_l = norm
            else:
                surface_l = surface
            out.text.append(surface)
            out.norm.append(norm)
            out.lemma.append(lemma(surface_l, lang))
            out.turn.append(ti)
            end_char = idx + len(surface)
            if words:
                w = words[max(0, bisect_right(spans, idx) - 1)]
                out.start.append(w.start)
                out.end.append(w.end)
            else:
                out.start.append(t0 + dur * idx / n_chars)
                out.end.append(t0 + dur * end_char / n_chars)
            out.cap.append(surface[:1].isupper() if has_upper else surface[:1].isalpha())
            out.sent.append(len(out.sentences) - 1)
            out.punct_before.append(punct or i == first_tok)
            out.punct_after.append(False)
            out.char.append((idx, end_char))
            punct = False
            out.sentences[-1] = (out.sentences[-1][0], i, False)
        if len(out.norm) > first_tok:
            out.punct_after[-1] = True
        out.turn_punctuated.append(punctuated)
    return out
