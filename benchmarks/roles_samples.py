"""Mono role assignment on the sample calls' true transcripts, roles hidden.

Each truth transcript (sample_calls/truth/*.json) is turned into a diarized mono
transcript (speakers SPEAKER_00/01 by first appearance) and its roles are told
apart again by pipeline/speech/roles.py, as is and in harder variants made from it:
no call direction, the operator's greeting turn gone (the client speaks first and
the operator never greets), the greeting replaced by a bare "Hello." / "Алло.".
Per variant: calls right, wrong, wrong with confidence >= 0.8, flagged
role_uncertain, and mean confidence.

    .venv/bin/python benchmarks/roles_samples.py [--config sample_calls/config.yaml] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = {"en": "Hello.", "ru": "Алло."}


def load_truth(path: Path) -> tuple[list[dict], str, str | None]:
    data = json.loads(path.read_text(encoding="utf-8"))
    meta = data.get("meta") or data
    return data["turns"], data.get("language") or meta.get("language") or "en", meta.get("direction")


def variants(turns: list[dict], language: str, direction: str | None) -> dict[str, tuple[list[dict], str | None]]:
    ops = [i for i, t in enumerate(turns) if t["speaker"] == "operator"]
    out = {"as_is": (turns, direction), "no_direction": (turns, None)}
    if ops:
        first = ops[0]
        out["no_greeting_turn"] = ([t for i, t in enumerate(turns) if i != first], direction)
        out["bare_hello"] = ([dict(t, text=BARE.get(language, "Hello.")) if i == first else t
                              for i, t in enumerate(turns)], direction)
    return out


def run(config, files: list[Path]) -> dict:
    from callqa.pipeline.speech.roles import assign_by_cues, role_uncertainty
    from callqa.pipeline.types import CallMeta, Turn

    rows, summary = [], {}
    for path in files:
        turns, language, direction = load_truth(path)
        for name, (vt, vdir) in variants(turns, language, direction).items():
            labels: list[str] = []
            for t in vt:
                if t["speaker"] not in labels:
                    labels.append(t["speaker"])
            mono = [Turn(speaker=f"SPEAKER_{labels.index(t['speaker']):02d}", start=float(t["start"]),
                         end=float(t["end"]), text=t["text"]) for t in vt]
            tr = assign_by_cues(mono, CallMeta(direction=vdir), config, language,
                                max(t.end for t in mono))
            right = all(a.speaker == t["speaker"] for a, t in zip(tr.turns, vt))
            conf = float(tr.role_confidence or 0.0)
            flagged = role_uncertainty(tr, config) is not None
            row = {"call": path.stem, "variant": name, "right": right, "confidence": round(conf, 3),
                   "method": tr.role_method, "flagged": flagged}
            rows.append(row)
            s = summary.setdefault(name, {"calls": 0, "right": 0, "wrong": 0, "wrong_conf_ge_0.8": 0,
                                          "wrong_unflagged": 0, "flagged": 0, "conf_sum": 0.0})
            s["calls"] += 1
            s["right"] += right
            s["wrong"] += not right
            s["wrong_conf_ge_0.8"] += (not right) and conf >= 0.8
            s["wrong_unflagged"] += (not right) and not flagged
            s["flagged"] += flagged
            s["conf_sum"] += conf
    for s in summary.values():
        s["mean_confidence"] = round(s.pop("conf_sum") / max(1, s["calls"]), 3)
    return {"rows": rows, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    from callqa.pipeline.config import load_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "sample_calls" / "config.yaml"))
    ap.add_argument("--truth", default=str(ROOT / "sample_calls" / "truth"))
    ap.add_argument("--json", help="write rows and summary here")
    args = ap.parse_args(argv)
    config = load_config(args.config)
    # One transcript per call: the audio calls' truth and their *_tx twins carry the same turns.
    files, seen = [], set()
    for p in sorted(Path(args.truth).glob("*.json")):
        key = json.dumps([t["text"] for t in json.loads(p.read_text(encoding="utf-8"))["turns"]])
        if key not in seen:
            seen.add(key)
            files.append(p)
    out = run(config, files)
    for r in out["rows"]:
        print(f"{r['call']:24s} {r['variant']:17s} {'right' if r['right'] else 'WRONG':5s} "
              f"conf {r['confidence']:.2f} {r['method']:16s}{' role_uncertain' if r['flagged'] else ''}")
    print()
    print(f"{'variant':17s} calls right wrong wrong>=0.8 wrong_unflagged flagged mean_conf")
    for name, s in out["summary"].items():
        print(f"{name:17s} {s['calls']:5d} {s['right']:5d} {s['wrong']:5d} {s['wrong_conf_ge_0.8']:10d} "
              f"{s['wrong_unflagged']:15d} {s['flagged']:7d} {s['mean_confidence']:9.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
