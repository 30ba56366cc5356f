"""The filler pass (`models.asr.filler_pass`): a second decoding of the stretches of speech the
first pass left without words, adding only filler words of the lexicon, never touching first-pass words."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.speech import transcribe as T

RATE = 16000
FIRST = [("Hello,", 0.5, 0.9), ("everything", 1.6, 2.1), ("looks", 2.1, 2.4), ("fine.", 2.4, 2.8),
         ("Goodbye.", 4.6, 5.0)]
SPEECH = [(0.4, 2.9), (3.4, 5.1)]  # what the VAD heard: "Hello, um, everything looks fine." / "... goodbye"


def _audio() -> np.ndarray:
    """Noise loud where someone speaks (SPEECH), quiet elsewhere."""
    rng = np.random.default_rng(0)
    x = 0.001 * rng.standard_normal(6 * RATE).astype(np.float32)
    for a, b in SPEECH:
        x[int(a * RATE):int(b * RATE)] += 0.2 * rng.standard_normal(int(b * RATE) - int(a * RATE)).astype(np.float32)
    return x


def _seg(words):
    return NS(start=words[0][1], end=words[-1][2], text=" ".join(w[0] for w in words), avg_logprob=-0.3,
              no_speech_prob=0.02, compression_ratio=1.3, temperature=0.0,
              words=[NS(word=" " + t, start=a, end=b, probability=p) for t, a, b, p in words])


class _FakeWhisper:
    """Stands in for WhisperModel. The first pass (no prompt) returns FIRST; the filler pass (its
    prompt) gets the stretches without words put end to end and 'hears', in each, what `heard`
    says for the stretch that starts nearest to the given recording time."""

    def __init__(self, heard: dict[float, list[tuple[str, float, float, float]]]):
        self.heard, self.calls, self.stretches = heard, [], None

    def transcribe(self, samples, **kwargs):
        self.calls.append(kwargs.get("initial_prompt"))
        if len(self.calls) == 1:
            return iter([_seg([(t, a, b, 0.9) for t, a, b in FIRST])]), None
        words = []
        for (a, b), at in zip(self.stretches, self.where_in):
            for t, s, e, p in self.heard.get(min(self.heard, key=lambda k: abs(k - a)), []):
                words.append((t, s - a + at, e - a + at, p))  # recording time -> time in the concatenation
        return iter([_seg(words)] if words else []), None


def _options(enabled: bool, **over):
    opts = T.asr_options(load_config(overrides={"models": {"asr": {"filler_pass": {"enabled": enabled, **over}}}}))
    return opts


@pytest.fixture()
def fake_vad(monkeypatch):
    monkeypatch.setattr(T, "_vad_speech", lambda samples, opts, rate=16000: list(SPEECH))


def _run(fake: _FakeWhisper, opts) -> tuple[list, str | None]:
    x = _audio()
    # Where each stretch lies in the concatenation the pass decodes (what the fake needs to answer).
    gaps = T._voiced(x, T.filler_gaps([T.AsrSegment(a, b, t, (T.Word(t, a, b, 0.9),)) for t, a, b in FIRST],
                                      SPEECH, opts.filler_pass.min_gap_s), T.FILLER_MIN_VOICED_S)
    spans = [(max(0.0, a - opts.filler_pass.pad_s), b + opts.filler_pass.pad_s) for a, b in gaps]
    fake.stretches, fake.where_in, pos = spans, [], 0.0
    for a, b in spans:
        fake.where_in.append(pos)
        pos += int(b * RATE) / RATE - int(a * RATE) / RATE + T.FILLER_SEP_S
    return T._decode_checked(fake, x, opts, "en", None, lambda *a, **k: None, "transcribe")


def test_a_filler_heard_between_first_pass_words_is_added_with_its_time(fake_vad):
    opts = _options(True)
    assert "um" in opts.filler_pass.words["en"]  # from configs/lexicons/en.yaml fillers
    heard = {0.9: [("Um,", 1.1, 1.4, 0.6), ("so", 1.45, 1.55, 0.9),  # "so" is no filler of the lexicon
                   ("everyone", 1.6, 2.0, 0.9)],  # a first-pass word (context) heard differently
             3.4: [("Uh,", 4.1, 4.4, 0.5), ("goodbye", 4.6, 5.0, 0.9)]}
    fake = _FakeWhisper(heard)
    segs, note = _run(fake, opts)
    assert fake.calls[1] == opts.filler_pass.prompt["en"] and len(fake.calls) == 2
    words = [w for s in segs for w in s.words]
    fillers = [w for w in words if w.text in ("Um,", "Uh,")]
    assert [(w.text, round(w.start, 2), round(w.end, 2)) for w in fillers] == [("Um,", 1.1, 1.4), ("Uh,", 4.1, 4.4)]
    # Every first-pass word is there, unchanged (text and times), in order; nothing else was added.
    kept = [(w.text, w.start, w.end) for w in words if w not in fillers]
    assert kept == FIRST
    assert "filler pass added 2" in note


def test_first_pass_words_are_never_changed_and_fillers_on_them_are_not_added(fake_vad):
    opts = _options(True, min_probability=0.2)
    # The pass 'hears' fillers where the first pass has words (its context) and one it is unsure of.
    heard = {0.9: [("um", 2.1, 2.4, 0.9)], 3.4: [("uh", 3.6, 3.8, 0.0)]}
    segs, note = _run(_FakeWhisper(heard), opts)
    assert [(w.text, w.start, w.end) for s in segs for w in s.words] == FIRST and note is None


def test_switched_off_gives_exactly_the_first_pass():
    opts = _options(False)
    fake = _FakeWhisper({0.9: [("Um,", 1.1, 1.4, 0.9)]})
    x = _audio()
    segs, note = T._decode_checked(fake, x, opts, "en", None, lambda *a, **k: None, "transcribe")
    assert len(fake.calls) == 1 and note is None
    assert [(w.text, w.start, w.end) for s in segs for w in s.words] == FIRST


def test_gaps_are_the_speech_no_word_covers():
    segs = [T.AsrSegment(a, b, t, (T.Word(t, a, b, 0.9),)) for t, a, b in FIRST]
    gaps = T.filler_gaps(segs, SPEECH, 0.25)
    assert [(round(a, 2), round(b, 2)) for a, b in gaps] == [(0.9, 1.6), (3.4, 4.6)]
    # A pause the VAD padded but where nothing sounds is not decoded again.
    x = _audio()
    x[int(0.95 * RATE):int(1.55 * RATE)] = 0.0
    assert [(round(a, 2), round(b, 2)) for a, b in T._voiced(x, gaps, T.FILLER_MIN_VOICED_S)] == [(3.4, 4.6)]


def test_a_run_of_fillers_in_one_stretch_adds_one(fake_vad):
    # A decoder loop over a stretch ("um um um um ...") is not four hesitations.
    heard = {0.9: [("um", 0.95 + 0.15 * i, 1.05 + 0.15 * i, 0.5) for i in range(4)]}
    segs, note = _run(_FakeWhisper(heard), _options(True))
    fillers = [w for s in segs for w in s.words if w.text == "um"]
    assert len(fillers) == 1 and 0.9 <= fillers[0].start < 1.6 and "added 1" in note


class _FakeWhole:
    """Stands in for WhisperModel with `source: whole`: the first pass (no prompt) returns FIRST, the
    filler pass (its prompt) decodes the whole recording again and returns `heard` (recording times)."""

    def __init__(self, heard: list[tuple[str, float, float, float]]):
        self.heard, self.calls, self.sizes = heard, [], []

    def transcribe(self, samples, **kwargs):
        self.calls.append(kwargs.get("initial_prompt"))
        self.sizes.append(len(samples))
        words = [(t, a, b, 0.9) for t, a, b in FIRST] if len(self.calls) == 1 else self.heard
        return iter([_seg(words)]), None


def test_whole_source_decodes_the_recording_again_and_adds_only_fillers_the_first_pass_lacks(fake_vad):
    opts = _options(True, source="whole")
    heard = [("Hello,", 0.5, 0.9, 0.9), ("um,", 1.1, 1.4, 0.4),  # a hesitation the first pass dropped
             ("uh", 1.5, 1.58, 0.5),  # the prompt's style doubling it: one hesitation, not two
             ("everyone", 1.6, 2.1, 0.9),  # heard differently: first-pass words are kept as they are
             ("uh", 3.3, 3.4, 0.5), ("uh", 3.4, 3.5, 0.5), ("uh", 3.5, 3.6, 0.5),  # a decoder loop: one
             ("um", 4.7, 4.9, 0.8),  # on top of the first pass's "Goodbye.": not a gap, not added
             ("bye.", 4.9, 5.1, 0.9)]
    fake = _FakeWhole(heard)
    x = _audio()
    segs, note = T._decode_checked(fake, x, opts, "en", None, lambda *a, **k: None, "transcribe")
    assert fake.calls == [None, opts.filler_pass.prompt["en"]] and fake.sizes == [x.size, x.size]
    words = [(w.text, w.start, w.end) for s in segs for w in s.words]
    assert [w for w in words if w not in FIRST] == [("um,", 1.1, 1.4), ("uh", 3.3, 3.4)]
    assert [w for w in words if w in FIRST] == FIRST and "filler pass added 2" in note


def test_whole_source_skips_a_filler_the_first_pass_already_wrote_nearby(fake_vad):
    first_um = [("Um,", 0.95, 1.2)]
    opts = _options(True, source="whole")

    class Fake(_FakeWhole):
        def transcribe(self, samples, **kwargs):
            if not self.calls:
                self.calls.append(None)
                return iter([_seg([(t, a, b, 0.9) for t, a, b in sorted(FIRST + first_um, key=lambda w: w[1])])]), None
            return super().transcribe(samples, **kwargs)

    fake = Fake([("um", 1.25, 1.5, 0.9)])  # the same hesitation, timed a little later
    segs, note = T._decode_checked(fake, _audio(), opts, "en", None, lambda *a, **k: None, "transcribe")
    assert [w.text for s in segs for w in s.words].count("um") == 0 and note is None


def test_whole_source_puts_a_filler_timed_late_before_the_word_it_preceded(fake_vad):
    # tiny.en times a hesitation at the word after it: "um" from 4.75 s, on top of the first pass's
    # "Goodbye." (4.6-5.0). The second decoding says it came before "Goodbye", so it goes in the pause
    # before that word, not after it (where it would cost the transcript two word errors).
    heard = [("fine.", 2.4, 2.8, 0.9), ("um", 4.75, 4.95, 0.3), ("Goodbye.", 4.95, 5.2, 0.9)]
    segs, note = T._decode_checked(_FakeWhole(heard), _audio(), _options(True, source="whole"), "en", None,
                                   lambda *a, **k: None, "transcribe")
    words = sorted(((w.text, round(w.start, 2), round(w.end, 2)) for s in segs for w in s.words), key=lambda w: w[1])
    assert [w[0] for w in words] == ["Hello,", "everything", "looks", "fine.", "um", "Goodbye."]
    assert ("um", 4.4, 4.6) in words and "filler pass added 1" in note
