"""Timing signals as polars expressions over turns, for one call or many at once.

One frame holds the turns of every call (`call`, `turn`, `speaker`, `start`,
`end`, `words`, `syllables`, `backchannel`); features are window expressions
``.over("call")`` / ``.over("call", "speaker")`` combined in a few
``with_columns`` / ``agg`` calls, so a batch of thousands of calls costs about
as much polars overhead as one.
"""

from __future__ import annotations

from typing import Any, Sequence

import polars as pl

from .settings import SignalsConfig

SPEAKERS = ("operator", "client")


def turns_frame(rows: dict[str, list[Any]]) -> pl.DataFrame:
    """Columns: call (int), turn (int), speaker (str), start, end (s), words, syllables (int), backchannel (bool),
    speech (s, optional: word-level speaking time; null = the turn has no word times)."""
    schema = {"call": pl.Int32, "turn": pl.Int32, "speaker": pl.Utf8, "start": pl.Float64,
              "end": pl.Float64, "words": pl.Int32, "syllables": pl.Int32, "backchannel": pl.Boolean}
    if "speech" in rows:
        schema["speech"] = pl.Float64
    return pl.DataFrame(rows, schema=schema)


def speech_seconds(words: Sequence[Any], pause_s: float) -> float | None:
    """Speaking time of one turn from its words' times: word spans, plus the gaps between words no longer
    than `pause_s`; a longer pause inside the turn is not speech. None when the turn has no word times."""
    spans = sorted((float(w.start), float(w.end)) for w in words if w.end >= w.start)
    if not spans:
        return None
    total, (cur_a, cur_b) = 0.0, spans[0]
    for a, b in spans[1:]:
        if a - cur_b <= pause_s:
            cur_b = max(cur_b, b)
        else:
            total += cur_b - cur_a
            cur_a, cur_b = a, b
    return total + (cur_b - cur_a)


# --- expressions -------------------------------------------------------------------

def duration() -> pl.Expr:
    return (pl.col("end") - pl.col("start")).clip(lower_bound=0.0)


def prev_end_any() -> pl.Expr:
    """Latest end of any earlier turn in the call (for silences)."""
    return pl.col("end").cum_max().shift(1).over("call")


def other_end_before(speaker: str) -> pl.Expr:
    """Latest end of `speaker`'s earlier turns in the call."""
    return (pl.when(pl.col("speaker") == speaker).then(pl.col("end")).otherwise(None)
            .cum_max().forward_fill().shift(1).over("call"))


def other_start_before(speaker: str) -> pl.Expr:
    return (pl.when(pl.col("speaker") == speaker).then(pl.col("start")).otherwise(None)
            .forward_fill().shift(1).over("call"))


def interruption(min_overlap: float, ignore_backchannels: bool) -> pl.Expr:
    """This turn starts while the other speaker is mid-turn and overlaps them at least `min_overlap` s."""
    other_end = pl.when(pl.col("speaker") == "operator").then(pl.col("_client_end")).otherwise(pl.col("_op_end"))
    other_start = pl.when(pl.col("speaker") == "operator").then(pl.col("_client_start")).otherwise(pl.col("_op_start"))
    overlap = pl.min_horizontal(other_end, pl.col("end")) - pl.col("start")
    cond = ((other_end > pl.col("start")) & (pl.col("start") > other_start) & (overlap >= min_overlap)
            & pl.col("speaker").is_in(SPEAKERS))
    if ignore_backchannels:
        cond = cond & ~pl.col("backchannel")
    return pl.when(cond).then(overlap).otherwise(None)


def silence_gap(min_gap: float) -> pl.Expr:
    gap = (pl.col("start") - pl.col("_prev_end")).clip(lower_bound=0.0)
    return pl.when(gap >= max(min_gap, 1e-9)).then(gap).otherwise(0.0).fill_null(0.0)


def per_speaker_sum(col: str | pl.Expr, speaker: str) -> pl.Expr:
    e = pl.col(col) if isinstance(col, str) else col
    return e.filter(pl.col("speaker") == speaker).sum()


# --- computation --------------------------------------------------------------------

def compute_timing(frame: pl.DataFrame, durations: Sequence[float], sig: SignalsConfig) -> list[dict[str, Any]]:
    """Timing signals for every call in `frame` (calls numbered 0..len(durations)-1)."""
    n_calls = len(durations)
    out: list[dict[str, Any]] = [_empty() for _ in range(n_calls)]
    if frame.height == 0:
        _edges_only(out, durations, sig)
        return out
    io = sig.interruptions
    df = (frame.sort("call", "start", "end")
          .with_columns(duration().alias("dur"), prev_end_any().alias("_prev_end"),
                        other_end_before("operator").alias("_op_end"),
                        other_end_before("client").alias("_client_end"),
                        other_start_before("operator").alias("_op_start"),
                        other_start_before("client").alias("_client_start"))
          .with_columns(silence_gap(sig.silence.min_gap_s).alias("gap"),
                        interruption(io.min_overlap_s, io.ignore_backchannels).alias("overlap")))

    # talk time: word-level speech where the turn has word times, else the turn's span
    talk = (pl.coalesce(pl.col("speech"), pl.col("dur")) if "speech" in df.columns else pl.col("dur"))
    df = df.with_columns(talk.alias("talk"))
    agg = (df.group_by("call").agg(
        per_speaker_sum("talk", "operator").alias("talk_op"),
        per_speaker_sum("talk", "client").alias("talk_cl"),
        per_speaker_sum("words", "operator").alias("words_op"),
        per_speaker_sum("words", "client").alias("words_cl"),
        per_speaker_sum("syllables", "operator").alias("syl_op"),
        per_speaker_sum("syllables", "client").alias("syl_cl"),
        pl.col("gap").sum().alias("silence"),
        pl.col("gap").max().alias("longest_gap"),
        pl.col("_prev_end").sort_by("gap").last().alias("longest_gap_start"),
        pl.col("start").sort_by("gap").last().alias("longest_gap_end"),
        pl.col("start").min().alias("first_start"),
        pl.col("end").max().alias("last_end"),
        (pl.col("overlap").is_not_null() & (pl.col("speaker") == "operator")).sum().alias("int_op"),
        (pl.col("overlap").is_not_null() & (pl.col("speaker") == "client")).sum().alias("int_cl"),
    ))
    for r in agg.iter_rows(named=True):
        c = r["call"]
        d = out[c]
        d["talk_time_s"] = {"operator": r["talk_op"], "client": r["talk_cl"]}
        total = r["talk_op"] + r["talk_cl"]
        d["talk_ratio_operator"] = r["talk_op"] / total if total > 0 else None
        d["words"] = {"operator": int(r["words_op"]), "client": int(r["words_cl"])}
        d["speech_rate_wpm"] = {"operator": _rate(r["words_op"] * 60.0, r["talk_op"]),
                                "client": _rate(r["words_cl"] * 60.0, r["talk_cl"])}
        d["syllables_per_s"] = {"operator": _rate(r["syl_op"], r["talk_op"]),
                                "client": _rate(r["syl_cl"], r["talk_cl"])}
        silence, longest = r["silence"], r["longest_gap"] or 0.0
        where = (r["longest_gap_start"], r["longest_gap_end"]) if longest > 0 else None
        if sig.silence.include_edges:
            lead, trail = r["first_start"], max(0.0, durations[c] - r["last_end"])
            for g, span in ((lead, (0.0, r["first_start"])), (trail, (r["last_end"], durations[c]))):
                if g >= max(sig.silence.min_gap_s, 1e-9):
                    silence += g
                    if g > longest:
                        longest, where = g, span
        d["silence_s"] = silence
        d["longest_silence_s"] = longest
        d["longest_silence"] = ({"start": where[0], "end": where[1], "speaker": None, "quote": ""}
                                if where else None)
        d["interruptions"] = {"by_operator": int(r["int_op"]), "by_client": int(r["int_cl"]), "items": []}

    items = (df.filter(pl.col("overlap").is_not_null())
             .select("call", "turn", "speaker", "start", "end", "overlap"))
    for r in items.iter_rows(named=True):
        out[r["call"]]["interruptions"]["items"].append(
            {"start": r["start"], "end": r["end"], "speaker": r["speaker"], "turn": r["turn"],
             "by": r["speaker"], "overlap_s": r["overlap"]})

    # Monologues and response latency: backchannels ("угу") neither break a monologue nor count as a turn.
    talk = df.filter(~pl.col("backchannel") & pl.col("speaker").is_in(SPEAKERS))
    prev_speaker = pl.col("speaker").shift(1).over("call")
    prev_end = pl.col("end").shift(1).over("call")
    talk = talk.with_columns(
        (prev_speaker.is_null() | (pl.col("speaker") != prev_speaker)
         | ((pl.col("start") - prev_end) > sig.monologue.max_gap_s)).cast(pl.Int32).cum_sum().over("call")
        .alias("run"),
        pl.when((pl.col("speaker") == "operator") & (prev_speaker == "client"))
        .then((pl.col("start") - prev_end).clip(lower_bound=0.0)).otherwise(None).alias("latency"),
    )
    runs = (talk.group_by("call", "run").agg(
        pl.col("speaker").first(), pl.col("start").min(), pl.col("end").max(),
        pl.col("turn").first().alias("first_turn"), pl.col("turn").last().alias("last_turn"))
        .with_columns((pl.col("end") - pl.col("start")).alias("len"))
        .with_columns(pl.col("len").rank("ordinal", descending=True).over("call", "speaker").alias("rank"))
        .filter(pl.col("rank") == 1))
    for r in runs.iter_rows(named=True):
        d = out[r["call"]]
        d["longest_monologue_s"][r["speaker"]] = r["len"]
        if r["speaker"] == "operator":
            d["longest_monologue"] = {"start": r["start"], "end": r["end"], "speaker": "operator",
                                      "first_turn": r["first_turn"], "last_turn": r["last_turn"]}
    lat = (talk.group_by("call").agg(pl.col("latency").mean().alias("mean"), pl.col("latency").max().alias("max"),
                                     pl.col("latency").count().alias("n")))
    for r in lat.iter_rows(named=True):
        if r["n"]:
            out[r["call"]]["response_latency_s"] = {"mean": r["mean"], "max": r["max"]}
    return out


def _rate(num: float, den: float) -> float | None:
    return num / den if den and den > 0 else None


def _empty() -> dict[str, Any]:
    return {"talk_time_s": {"operator": 0.0, "client": 0.0}, "talk_ratio_operator": None, "silence_s": 0.0,
            "longest_silence_s": 0.0, "longest_silence": None,
            "interruptions": {"by_operator": 0, "by_client": 0, "items": []},
            "speech_rate_wpm": {"operator": None, "client": None},
            "syllables_per_s": {"operator": None, "client": None}, "words": {"operator": 0, "client": 0},
            "longest_monologue_s": {"operator": 0.0, "client": 0.0}, "longest_monologue": None,
            "response_latency_s": None}


def _edges_only(out: list[dict[str, Any]], durations: Sequence[float], sig: SignalsConfig) -> None:
    """Calls without any turn: all of it is silence when edges count."""
    if not sig.silence.include_edges:
        return
    for d, dur in zip(out, durations):
        if dur > 0:
            d["silence_s"] = d["longest_silence_s"] = dur
            d["longest_silence"] = {"start": 0.0, "end": dur, "speaker": None, "quote": ""}
