"""The exemplary-call library and human QA, on top of the store's public API.

- Nominations come from the pipeline (`pipeline/scoring/nominate.py`): one per call,
  listing the competencies the call shows. A person approves or rejects a call's
  nomination (`decide`), optionally with tags (free words: "refund", "angry
  client" ...). Decisions are store reviews of kind ``nomination`` (target
  ``call``, status = approved | rejected, value = ``{"tags": [...]}``) naming the
  analysis they judged; the latest one on the current analysis wins (after
  reprocessing the call is pending again), nothing is rewritten, so the history stays.
- `library_items` searches nominations by competency, scenario, tag, status,
  team and free text, best first; pending ones are capped per competency and
  scenario (`library.per_competency_scenario`, configs/library.yaml);
  `export_zip` writes a selection as a zip with the audio, a readable transcript
  and the annotations.
- Score overrides made by supervisors are store reviews of kind
  ``score_override``; `human_qa_rows` / `write_human_qa_csv` turn the latest one
  per call and competency into the human-QA input of ``callqa validate``
  (columns call_id, competency, level, score).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any, Iterable, Mapping, Sequence

from callqa.pipeline.errors import PathError
from callqa.pipeline.scoring.nominate import rank_key_of, shown_competencies
from callqa.pipeline.store.db import Store

DECISIONS = ("approved", "rejected")
STATUSES = ("pending",) + DECISIONS
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".oga", ".webm", ".aac"}
MAX_TAGS = 20
MAX_TAG_LEN = 40


class LibraryError(PathError):
    """A library action that cannot be done (unknown nomination, bad decision ...)."""


@dataclass(frozen=True)
class LibraryItem:
    """A call's nomination, with the competencies it shows (listed: those it is among the
    best for, best first) and its decision. `competency` / `score` are the first listed
    (the one asked for, when filtering by competency)."""

    call_id: str
    competency: str
    scenario: str | None
    score: float | None
    reason: str | None
    operator_id: str | None
    team: str | None
    language: str | None
    started_at: str | None
    difficult: bool | None
    status: str  # pending | approved | rejected
    tags: tuple[str, ...] = ()
    decided_by: str | None = None
    decided_at: str | None = None
    comment: str | None = None
    competencies: tuple[tuple[str, float | None], ...] = ()  # (competency, score), best first
    analysis_id: str | None = None

    @property
    def key(self) -> str:
        """How forms name an item: the call (one nomination per call)."""
        return self.call_id

    def serialize(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        d["competencies"] = [{"id": c, "score": v} for c, v in self.competencies]
        return d


def normalise_tags(tags: str | Iterable[str] | None) -> tuple[str, ...]:
    """Comma-separated text or a list -> unique, trimmed, lower-case tags."""
    if tags is None:
        return ()
    parts = tags.split(",") if isinstance(tags, str) else list(tags)
    out = dict.fromkeys(" ".join(str(t).split()).lower()[:MAX_TAG_LEN] for t in parts)
    return tuple(t for t in out if t)[:MAX_TAGS]


def _cap(config: Any) -> int:
    if config is None:
        from callqa.pipeline.config import load_config

        config = load_config()
    return int(config.section("library").per_competency_scenario)


def library_items(store: Store, *, competency: str | None = None, scenario: str | None = None,
                  tag: str | None = None, status: str | None = None, text: str | None = None,
                  teams: Sequence[str] | None = None, call_id: str | None = None,
                  config: Any = None, cap: int | None = None) -> list[LibraryItem]:
    """Nominated calls matching every filter given (`teams=None`: any team; a list:
    only calls of those teams), best first. Pending calls are capped: per competency and
    scenario only the best `cap` (default `library.per_competency_scenario` of `config`)
    are listed, each with the competencies it made the cut for. Asked for one call
    (`call_id`), nothing is capped."""
    if status is not None and status not in STATUSES:
        raise LibraryError(store.path, f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    wanted_tag = normalise_tags(tag)[0] if tag and normalise_tags(tag) else None
    needle = (text or "").strip().lower()
    # one entry per call (stores before version 2 hold a row per call and competency)
    calls: dict[str, dict[str, Any]] = {}
    for n in store.nominations(competency=competency or None, status=status or None):
        if call_id is not None and n["call_id"] != call_id:
            continue
        if teams is not None and n.get("team") not in teams:
            continue
        if scenario and (n.get("scenario") or "") != scenario:
            continue
        entry = calls.setdefault(n["call_id"], {**n, "data": dict(n.get("data") or {}), "shown": {}})
        shown = shown_competencies(n.get("data") or {}) or {n["competency_id"]: n.get("score")}
        entry["shown"].update({c: v for c, v in shown.items() if c not in entry["shown"]})
    candidates: list[tuple[dict[str, Any], LibraryItem]] = []
    for n in calls.values():
        value = n.get("decision_value")
        value = json.loads(value) if isinstance(value, str) else value or {}
        tags = normalise_tags(value.get("tags") if isinstance(value, Mapping) else None)
        if wanted_tag and wanted_tag not in tags:
            continue
        shown = sorted(n["shown"].items(), key=lambda cv: (-(cv[1] or 0.0), cv[0]))
        if competency:
            shown = [cv for cv in shown if cv[0] == competency] + [cv for cv in shown if cv[0] != competency]
        at = n.get("decided_at")
        item = LibraryItem(
            call_id=n["call_id"], competency=shown[0][0], scenario=n.get("scenario"), score=shown[0][1],
            reason=n["data"].get("reason") or n.get("reason"),
            operator_id=n.get("operator_id"), team=n.get("team"), language=n.get("language"),
            started_at=n.get("started_at"), difficult=n.get("difficult"), status=n["status"], tags=tags,
            decided_by=n.get("decided_by"), decided_at=at.isoformat() if at is not None else None,
            comment=n.get("decision_comment"), competencies=tuple(shown), analysis_id=n.get("analysis_id"))
        if needle and needle not in " ".join(str(x or "") for x in (
                item.call_id, item.operator_id, item.team, item.scenario, item.comment, " ".join(item.tags))).lower():
            continue
        candidates.append((n["data"], item))
    if call_id is None:
        candidates = _capped(candidates, competency, cap if cap is not None else _cap(config))
    # Best first: difficult calls turned positive, then difficult, then score (nominate.rank_key_of).
    candidates.sort(key=lambda di: (tuple(-float(x) for x in rank_key_of({**di[0], "score": di[1].score},
                                                                           di[1].competency)), di[1].call_id))
    return [item for _, item in candidates]


def _capped(candidates: list[tuple[dict[str, Any], LibraryItem]], competency: str | None,
            cap: int) -> list[tuple[dict[str, Any], LibraryItem]]:
    """Pending calls that are among the `cap` best for some competency (only `competency`,
    when given) and their scenario, listing just those competencies; decided ones as they are."""
    groups: dict[tuple[str, str], list[tuple[tuple, str]]] = {}
    for data, item in candidates:
        if item.status != "pending":
            continue
        for cid, _ in item.competencies:
            if competency and cid != competency:
                continue
            rank = rank_key_of({**data, "competencies": [{"id": c, "score": v} for c, v in item.competencies]}, cid)
            groups.setdefault((cid, item.scenario or ""), []).append((rank, item.call_id))
    keep: dict[str, set[str]] = {}
    for (cid, _), ranked in groups.items():
        for _, call in sorted(ranked, key=lambda rc: (tuple(-float(x) for x in rc[0]), rc[1]))[:cap]:
            keep.setdefault(call, set()).add(cid)
    out = []
    for data, item in candidates:
        if item.status != "pending":
            out.append((data, item))
            continue
        made = [cv for cv in item.competencies if cv[0] in keep.get(item.call_id, set())]
        if made:
            out.append((data, replace(item, competency=made[0][0], score=made[0][1], competencies=tuple(made))))
    return out


def facets(items: Iterable[LibraryItem]) -> dict[str, list[str]]:
    """Distinct competencies, scenarios and tags among items (for filter menus)."""
    items = list(items)
    return {"competency": sorted({i.competency for i in items}),
            "scenario": sorted({i.scenario for i in items if i.scenario}),
            "tag": sorted({t for i in items for t in i.tags})}


def decide(store: Store, call_id: str, competency: str | None, decision: str, *, author: str,
           tags: str | Iterable[str] | None = None, comment: str | None = None,
           analysis_id: str | None = None) -> LibraryItem:
    """Approve or reject a call's nomination, all its competencies at once (tags replace
    earlier ones). `competency`, when given, must be one the nomination lists."""
    if decision not in DECISIONS:
        raise LibraryError(store.path, f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if not library_items(store, competency=competency or None, call_id=call_id):
        what = f" for {competency!r}" if competency else ""
        raise LibraryError(store.path, f"call {call_id!r} is not nominated{what}")
    store.add_review(call_id, "nomination", author=author, target="call", status=decision,
                     value={"tags": list(normalise_tags(tags))}, comment=(comment or None), analysis_id=analysis_id)
    return library_items(store, competency=competency or None, call_id=call_id)[0]


# ---------------------------------------------------------------- export

def transcript_text(result: Mapping[str, Any]) -> str:
    """`[mm:ss.s] speaker: text` lines."""
    lines = []
    for t in ((result.get("transcript") or {}).get("turns")) or []:
        start = float(t.get("start") or 0.0)
        lines.append(f"[{int(start // 60):02d}:{start % 60:04.1f}] {t.get('speaker')}: {t.get('text')}")
    return "\n".join(lines) + "\n"


def audio_path(result: Mapping[str, Any]) -> Path | None:
    """The call's recording when it is an audio file that exists (not a transcript import)."""
    raw = (result.get("source") or {}).get("path")
    if not raw:
        return None
    p = Path(str(raw))
    if p.suffix.lower() not in AUDIO_SUFFIXES or not p.is_file():
        return None
    return p


def export_zip(store: Store, items: Sequence[LibraryItem], target: str | Path | IO[bytes],
               config: Any = None) -> list[str]:
    """Write the selected library items as a zip::

        index.csv                     one row per item (call, competency, scenario, tags, ...)
        <call_id>/audio.<ext>         the recording, when it is on disk
        <call_id>/transcript.txt      readable transcript with times
        <call_id>/result.json         the stored call result with its reviews
        <call_id>/annotations.json    the library items of this call, indicators, competencies, flags

    Privacy (configs/privacy.yaml of `config`, the default configuration when None):
    the audio has personal-data spans muted or beeped (as WAV), result.json carries
    no server path and no unredacted dropped ASR text, and a call id that looks like a
    phone number is masked in names, folders and files.

    Returns the archive's member names."""
    from callqa.pipeline.privacy.audio_redact import redacted_wav, spans_of
    from callqa.pipeline.privacy.redact import mask_call_id, public_result

    if config is None:
        from callqa.pipeline.config import load_config

        config = load_config()
    privacy = config.section("privacy")
    by_call: dict[str, list[LibraryItem]] = {}
    for it in items:
        by_call.setdefault(it.call_id, []).append(it)
    names: list[str] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        index = io.StringIO()
        w = csv.writer(index)
        w.writerow(["call_id", "competency", "competencies", "scenario", "score", "status", "tags", "operator_id",
                    "team", "language", "started_at", "audio"])
        for cid, its in by_call.items():
            result = store.get(cid)
            if result is None:
                raise LibraryError(store.path, f"no call {cid!r} in the store")
            shown = mask_call_id(cid, config)
            folder = _safe_name(shown)
            audio = audio_path(result)
            spans = spans_of(result, privacy.tags.values())
            if audio and privacy.audio != "original" and spans:
                audio_name = f"{folder}/audio.wav"
                zf.writestr(audio_name, redacted_wav(audio, spans, privacy.audio),
                            compress_type=zipfile.ZIP_STORED)
                names.append(audio_name)
            else:
                audio_name = f"{folder}/audio{audio.suffix.lower()}" if audio else ""
                if audio:
                    zf.write(audio, audio_name, compress_type=zipfile.ZIP_STORED)
                    names.append(audio_name)
            result = public_result(result, config)
            members = {
                f"{folder}/transcript.txt": transcript_text(result),
                f"{folder}/result.json": json.dumps(result, ensure_ascii=False, indent=2, default=str),
                f"{folder}/annotations.json": json.dumps({
                    "call_id": shown, "library": [{**i.serialize(), "call_id": shown} for i in its],
                    "competencies": result.get("competencies") or [], "indicators": result.get("indicators") or [],
                    "flags": result.get("flags") or [], "signals": result.get("signals"),
                    "reviews": result.get("reviews") or []}, ensure_ascii=False, indent=2, default=str),
            }
            for name, text in members.items():
                zf.writestr(name, text)
                names.append(name)
            for it in its:
                w.writerow([shown, it.competency, ";".join(c for c, _ in it.competencies), it.scenario or "",
                            "" if it.score is None else it.score,
                            it.status, ";".join(it.tags), it.operator_id or "", it.team or "", it.language or "",
                            it.started_at or "", audio_name])
        zf.writestr("index.csv", index.getvalue())
        names.insert(0, "index.csv")
    return names


def _safe_name(call_id: str) -> str:
    """A call id as a single, harmless archive folder name."""
    cleaned = "".join(c if c.isalnum() or c in "-_.=+@" else "_" for c in call_id).strip(".")
    return cleaned or "call"


# ---------------------------------------------------------------- human QA

def human_qa_rows(store: Store) -> list[dict[str, Any]]:
    """The score override that applies per call and competency (the latest on the call's
    current analysis, `Store.latest_reviews`): call_id, competency, level, score, author,
    comment, created_at (the `callqa validate` human-QA input). An override made on an
    earlier analysis judged other scores and is left out."""
    out = []
    for r in store.latest_reviews("score_override"):
        value = r.get("value") or {}
        out.append({"call_id": r["call_id"], "competency": r["target"], "level": value.get("level"),
                    "score": value.get("score"), "author": r["author"], "comment": r["comment"],
                    "created_at": r["created_at"].isoformat() if r["created_at"] is not None else None})
    return out


def human_qa_frame(store: Store) -> Any:
    """`human_qa_rows` as a polars DataFrame (call_id, competency, level, score, ...)."""
    import polars as pl

    schema = {"call_id": pl.Utf8, "competency": pl.Utf8, "level": pl.Int64, "score": pl.Float64,
              "author": pl.Utf8, "comment": pl.Utf8, "created_at": pl.Utf8}
    return pl.DataFrame(human_qa_rows(store), schema=schema, orient="row")


def write_human_qa_csv(store: Store, path: str | Path) -> int:
    """Write the human-QA CSV for `callqa validate --qa`; returns the number of rows."""
    frame = human_qa_frame(store)
    frame.write_csv(Path(path))
    return frame.height
