"""Who is the operator? Diarization labels (channel 0/1, SPEAKER_00/01) mean
nothing by themselves: roles come from the channel map (stereo), from script
cues (mono: who greets with the company name or offers help), else from the
call direction. Every assignment records its method and confidence."""

from __future__ import annotations

import re
from dataclasses import replace

from .config import Config
from .types import CallMeta, Transcript, Turn

OPERATOR, CLIENT = "operator", "client"


def swap_speakers(turns: list[Turn]) -> list[Turn]:
    """Operator <-> client (metadata `swap_roles`)."""
    other = {OPERATOR: CLIENT, CLIENT: OPERATOR}
    return [replace(t, speaker=other.get(t.speaker, t.speaker)) for t in turns]


def assign_by_channel(turns: list[Turn], meta: CallMeta, config: Config, language: str,
                      duration_s: float) -> Transcript:
    """Stereo: each turn's `channel` indexes the channel map (default left = operator)."""
    cmap = meta.channel_map or tuple(config.section("audio").default_channel_map)
    out = [replace(t, speaker=cmap[t.channel] if t.channel is not None and t.channel < len(cmap) else t.speaker)
           for t in turns]
    if meta.swap_roles:
        out = swap_speakers(out)
    return Transcript(turns=tuple(out), language=language, duration_s=duration_s,
                      role_confidence=1.0, role_method="channel_map")


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower().replace("ё", "е")))


def _cue_score(turns: list[Turn], cues: list[str], company: list[str]) -> int:
    text = " " + " ".join(_normalise(t.text) for t in turns) + " "
    phrases = [_normalise(c) for c in cues] + [_normalise(c) for c in company]
    return sum(text.count(f" {p} ") for p in phrases if p)


def assign_by_cues(turns: list[Turn], meta: CallMeta, config: Config, language: str,
                   duration_s: float) -> Transcript:
    """Mono: `turns` carry diarization labels; map them to operator / client."""
    labels: list[str] = []
    for t in sorted(turns, key=lambda t: t.start):
        if t.speaker not in labels:
            labels.append(t.speaker)
    ra = config.section("role_assignment")
    company = config.section("company").names
    cues = ra.cues.get(language, []) + [c for lang, cs in ra.cues.items() if lang != language for c in cs]
    early = [t for t in turns if t.start <= ra.cue_window_s]
    scores = {lab: _cue_score([t for t in early if t.speaker == lab], cues, company) for lab in labels}

    method, confidence = "direction", 0.5
    if len(labels) == 0:
        operator_label = None
    elif len(labels) == 1:
        operator_label, method, confidence = labels[0], "single_speaker", 0.5
    else:
        ranked = sorted(labels, key=lambda lab: (-scores[lab], labels.index(lab)))
        top, second = scores[ranked[0]], scores[ranked[1]]
        if top > second:
            # Cue phrases ("my name is", "this is", "меня зовут") are said by clients
            # too, so cue counts alone never justify a confident (>= 0.8) assignment.
            operator_label, method = ranked[0], "script_cue"
            confidence = min(0.75, 0.6 + 0.05 * (top - second))
        else:
            # Inbound: the operator answers and speaks first. Outbound: the client says hello first.
            operator_label = labels[1] if meta.direction == "outbound" else labels[0]
            confidence = 0.6 if meta.direction else 0.5
    out = [replace(t, speaker=OPERATOR if t.speaker == operator_label else CLIENT) for t in turns]
    if meta.swap_roles:
        out = swap_speakers(out)
    return Transcript(turns=tuple(out), language=language, duration_s=duration_s,
                      role_confidence=confidence, role_method=method)
