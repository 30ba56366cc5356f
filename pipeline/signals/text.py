"""A call's words as one flat token stream with times, turns and sentences.

Word tokens only (punctuation becomes flags on its neighbours and sentence
boundaries). When a turn has word timings each token takes its word's times;
otherwise times are interpolated over the turn by character position.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from callqa.pipeline.signals import nlp
from callqa.pipeline.types import Transcript

_SENT_END = frozenset(".?!…")


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
    prob: list[float] = field(default_factory=list)  # the ASR's probability of the token's word (1.0 without)
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

    bags: dict[int, frozenset[str]] = field(default_factory=dict)  # sentence -> its forms and lemmas

    def bag(self, sent: int) -> frozenset[str]:
        """Every form and lemma in sentence `sent` (to reject patterns quickly)."""
        b = self.bags.get(sent)
        if b is None:
            f, l, _ = self.sentences[sent]
            b = self.bags[sent] = frozenset(self.norm[f:l + 1]) | frozenset(self.lemma[f:l + 1])
        return b

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


def tokenize_transcript(transcript: Transcript, lang: "str | nlp.LangNLP") -> CallTokens:
    """Tokenise every turn of `transcript` with the language's pipeline (a `nlp.LangNLP` from the
    configuration, or a code of configs/languages.yaml)."""
    out = CallTokens(language=lang if isinstance(lang, str) else lang.code)
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
    chunks, analyze_chunk = nlp.CHUNK.finditer, nlp.analyze_chunk
    a_text, a_norm, a_lemma, a_turn = out.text.append, out.norm.append, out.lemma.append, out.turn.append
    a_start, a_end, a_cap, a_sent = out.start.append, out.end.append, out.cap.append, out.sent.append
    a_prob = out.prob.append
    a_pb, a_pa, a_char = out.punct_before.append, out.punct_after.append, out.char.append
    punct_after, sentences = out.punct_after, out.sentences
    n = 0  # tokens so far
    for ti, turn in enumerate(transcript.turns):
        out.turn_first.append(n)
        words, spans = word_spans[ti]
        text = texts[ti]
        out.turn_text.append(text)
        has_upper = not text.islower()
        n_chars = max(1, len(text))
        dur = turn.end - turn.start
        t0 = turn.start
        first_tok = n
        sent_first = -1  # first token of the open sentence
        punct = True
        punctuated = False
        for m in chunks(text):
            base = m.start()
            for tok in analyze_chunk(m.group(), lang):
                idx = base + tok.idx
                surface = tok.text
                if not tok.is_word:
                    punct = True
                    if not _SENT_END.isdisjoint(surface):
                        punctuated = True
                        if sent_first >= 0:
                            sentences.append((sent_first, n - 1, "?" in surface))
                            sent_first = -1
                    if n > first_tok:
                        punct_after[-1] = True
                    continue
                if sent_first < 0:
                    sent_first = n
                a_text(surface)
                a_norm(tok.norm)
                a_lemma(tok.lemma)
                a_turn(ti)
                end_char = idx + len(surface)
                if words:
                    w = words[bisect_right(spans, idx) - 1 if idx >= spans[0] else 0]
                    a_start(w.start)
                    a_end(w.end)
                    a_prob(float(w.probability))
                else:
                    a_start(t0 + dur * idx / n_chars)
                    a_end(t0 + dur * end_char / n_chars)
                    a_prob(1.0)
                a_cap(surface[:1].isupper() if has_upper else surface[:1].isalpha())
                a_sent(len(sentences))
                a_pb(punct)
                a_pa(False)
                a_char((idx, end_char))
                punct = False
                n += 1
        if sent_first >= 0:
            sentences.append((sent_first, n - 1, False))
        if n > first_tok:
            punct_after[-1] = True
        out.turn_punctuated.append(punctuated)
    return out
