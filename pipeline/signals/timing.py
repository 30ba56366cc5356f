"""Timing signals as polars expressions over turns, for one call or many at once.

One frame holds the turns of every call (`call`, `turn`, `speaker`, `start`,
`end`, `words`, `syllables`, `backchannel`); features are window expressions
``.over("call")`` / ``.over("call", "speaker")`` combined in a few
``with_columns`` / ``agg`` calls, so a batch of thousands of calls costs about
as much polars overhead as one.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Mapping, Sequence

import polars as pl

from callqa.pipeline.signals.settings import SignalsConfig
from callqa.pipeline.types import uncovered

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


YIELD_GAP_S = 0.3  # between turns: a speaker who stops this long while the other talks has handed over the floor
TAKEN_S = 0.5  # the other side, coming in while a speaker pauses, has the floor once it has talked this long alone
# audio runs (stereo channel activity): a speaker who stops this long, once the other has talked over them
# AUDIO_YIELD_AFTER_S, and while the other talks on, has handed over the floor. Both longer than between
# turns: under the louder side the quieter channel's soft syllables can read as bleed, which leaves holes
# in its speech just after the other comes in (a client's "No, thanks. Bye." under the operator's "You are
# welcome": 0.55 s, 0.1 s after the operator came in)
AUDIO_YIELD_GAP_S = 0.5
AUDIO_YIELD_AFTER_S = 0.5


def speech_runs(spans: pl.DataFrame, join_s: float, yield_s: float | None = None,
                taken_s: float | None = None, yield_after_s: float = 0.0) -> pl.DataFrame:
    """Each speaker's continuous speech: `spans` (call, speaker, start, end[, turn]) joined while the
    speaker's own pause is at most `join_s`. The other side's speech does not cut a run where it starts
    while the speaker is still talking (a stereo transcript cuts a channel's turn wherever the other
    speaker starts a word). With `yield_s`, a gap of `yield_s` or more between two spans of the speaker,
    made `yield_after_s` or more after the other side came in and while it is still talking, ends the run:
    the floor was handed over (a mono turn ends where the other voice takes over), and taking it back is a
    new start (turns: `YIELD_GAP_S`; audio: `AUDIO_YIELD_GAP_S`, `AUDIO_YIELD_AFTER_S`). With `taken_s`
    (turns or audio), a pause in which the other side started speaking, and had spoken `taken_s` or more
    alone when the speaker goes on over them, ends the run: the other took a free floor, and coming back
    in is a new start (the speaker's interruption, not theirs). Going on sooner is the speaker's own turn
    going on, which the other came into.
    Columns: call, speaker, start, end, and with turns the run's first turn and its end (turn, turn_end)."""
    with_turn = "turn" in spans.columns
    cols = ["call", "speaker", "start", "end"] + (["turn"] if with_turn else [])
    out: dict[str, list[Any]] = {k: [] for k in ("call", "speaker", "start", "end", "turn", "turn_end")}

    def close(call: int, speaker: str, r: list[Any]) -> None:
        for k, v in zip(("call", "speaker", "start", "end", "turn", "turn_end"), (call, speaker, *r)):
            out[k].append(v)

    plain: dict[int, dict[str, tuple[list[float], list[float]]]] = {}  # call -> speaker -> starts, ends of
    if taken_s is not None:                                             # the runs joined on pauses alone
        for c, sp, a0, b0 in speech_runs(spans.select("call", "speaker", "start", "end"), join_s).iter_rows():
            starts, ends = plain.setdefault(c, {}).setdefault(sp, ([], []))
            starts.append(a0)
            ends.append(b0)

    def taken(call: int, speaker: str, since: float, until: float, alone: float) -> bool:
        """Another speaker's run starts at `since` or later, `alone` or more before `until`, and still
        goes on at `until`."""
        for sp, (starts, ends) in plain.get(call, {}).items():
            if sp != speaker:
                i = bisect_left(starts, since)
                while i < len(starts) and starts[i] <= until - alone:
                    if ends[i] > until:
                        return True
                    i += 1
        return False

    cur: dict[str, list[Any]] = {}  # speaker -> [start, end, turn, turn_end] of the open run
    call_now = None
    for row in spans.sort("call", "start", "end").select(cols).iter_rows():
        call, speaker, a, b = row[:4]
        turn = row[4] if with_turn else None
        if call != call_now:
            for sp, r in cur.items():
                close(call_now, sp, r)
            cur, call_now = {}, call
        r = cur.get(speaker)
        if r is not None:
            gap = a - r[1]
            others = [o for sp, o in cur.items() if sp != speaker]
            yielded = yield_s is not None and gap >= yield_s and any(
                r[0] < o[0] <= r[1] - yield_after_s and r[1] < o[1] for o in others)
            took = taken_s is not None and gap >= taken_s and taken(call, speaker, r[1], a, taken_s)
            if gap > join_s or yielded or took:
                close(call, speaker, r)
                r = None
        if r is None:
            cur[speaker] = [a, b, turn, b]
        else:
            r[1] = max(r[1], b)
    for sp, r in cur.items():
        close(call_now, sp, r)
    frame = pl.DataFrame(out, schema={"call": pl.Int32, "speaker": pl.Utf8, "start": pl.Float64, "end": pl.Float64,
                                      "turn": pl.Int32, "turn_end": pl.Float64})
    return frame if with_turn else frame.drop("turn", "turn_end")


def _talking_turns(frame: pl.DataFrame, ignore_backchannels: bool) -> pl.DataFrame:
    f = frame.filter(pl.col("speaker").is_in(SPEAKERS))
    if ignore_backchannels:
        f = f.filter(~pl.col("backchannel"))
    return f.select("call", "speaker", "start", "end", "turn")


def activity_runs(activity: pl.DataFrame, turns: pl.DataFrame, join_s: float) -> pl.DataFrame:
    """Runs of audio speech activity (`speech_runs` of `activity`: call, speaker, start, end), each with
    the first of the speaker's `turns` it holds (turn, turn_end; null when no turn falls in the run:
    speech heard but not transcribed, which can be interrupted but is not itself an interruption)."""
    runs = speech_runs(activity.select("call", "speaker", "start", "end"), join_s, AUDIO_YIELD_GAP_S, TAKEN_S,
                        AUDIO_YIELD_AFTER_S)
    held = (runs.join(turns.rename({"start": "_t_start", "end": "_t_end"}), on=["call", "speaker"])
            .filter((pl.col("_t_start") < pl.col("end")) & (pl.col("_t_end") > pl.col("start")))
            .sort("_t_start")
            .group_by("call", "speaker", "start", "end")
            .agg(pl.col("turn").first(), pl.col("_t_end").first().alias("turn_end")))
    return runs.join(held, on=["call", "speaker", "start", "end"], how="left")


def interruptions(frame: pl.DataFrame, min_overlap: float, join_s: float, ignore_backchannels: bool,
                  activity: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per interruption: a speaker's run of speech (`speech_runs`) that starts while the other
    speaker's run is under way, the two speaking at once at least `min_overlap` s. Runs come from the
    turns, or for the calls in `activity` (stereo: call, speaker, start, end of audio speech) from the
    audio, an interrupting run then holding a turn of its speaker. On the turns, the time at once is
    measured on the turns themselves, not on the runs' spans: a run goes on across its speaker's pauses,
    and a short turn said wholly in such a pause (a mono call's stray piece of the other voice) overlaps
    nobody. Audio runs keep their spans: under the louder side's speech the other channel's soft
    syllables read as bleed, so its activity has holes where both speak. Columns: call, speaker, turn,
    start, end (of the interrupting turn), overlap."""
    turns = _talking_turns(frame, ignore_backchannels)
    runs = speech_runs(turns, join_s, YIELD_GAP_S, TAKEN_S)
    heard = pl.lit(False)  # the calls whose runs come from the audio
    if activity is not None and activity.height:
        heard = pl.col("call").is_in(activity["call"].unique().implode())
        runs = pl.concat([runs.filter(~heard), activity_runs(activity, turns, join_s).select(runs.columns)],
                         how="vertical_relaxed")
    other = runs.select("call", pl.col("speaker").alias("_o_speaker"), pl.col("start").alias("_o_start"),
                        pl.col("end").alias("_o_end"))
    pairs = (runs.filter(pl.col("turn").is_not_null()).join(other, on="call")
             .filter((pl.col("speaker") != pl.col("_o_speaker")) & (pl.col("_o_start") < pl.col("start"))
                     & (pl.col("start") < pl.col("_o_end"))))
    pairs = pl.concat([_at_once(pairs.filter(~heard), turns),
                       pairs.filter(heard).with_columns(
                           (pl.min_horizontal("_o_end", "end") - pl.col("start")).alias("overlap"))],
                      how="vertical_relaxed").filter(pl.col("overlap") >= min_overlap)
    return (pairs.group_by("call", "speaker", "turn")
            .agg(pl.col("start").first(), pl.col("turn_end").first().alias("end"), pl.col("overlap").max())
            .sort("call", "start"))


def _at_once(pairs: pl.DataFrame, spans: pl.DataFrame) -> pl.DataFrame:
    """`pairs` (a run: call, speaker, start, end; and the other's run it starts in: _o_speaker, _o_start,
    _o_end) with `overlap`: the seconds in which the `spans` (call, speaker, start, end: the turns) of both
    within their runs fall together."""
    if not pairs.height:
        return pairs.with_columns(pl.lit(0.0).alias("overlap"))
    keyed = pairs.with_row_index("_pair")
    mine = spans.select("call", "speaker", pl.col("start").alias("_a0"), pl.col("end").alias("_a1"))
    theirs = spans.select("call", pl.col("speaker").alias("_o_speaker"), pl.col("start").alias("_b0"),
                          pl.col("end").alias("_b1"))
    both = (keyed.select("_pair", "call", "speaker", "_o_speaker", "start", "end", "_o_start", "_o_end")
            .join(mine, on=["call", "speaker"])
            .join(theirs, on=["call", "_o_speaker"])
            .with_columns((pl.min_horizontal("_a1", "_b1", "end", "_o_end")
                           - pl.max_horizontal("_a0", "_b0", "start", "_o_start")).clip(lower_bound=0.0).alias("_s"))
            .group_by("_pair").agg(pl.col("_s").sum().alias("overlap")))
    return (keyed.join(both, on="_pair", how="left").with_columns(pl.col("overlap").fill_null(0.0))
            .drop("_pair"))


def silence_gap(min_gap: float) -> pl.Expr:
    gap = (pl.col("start") - pl.col("_prev_end")).clip(lower_bound=0.0)
    return pl.when(gap >= max(min_gap, 1e-9)).then(gap).otherwise(0.0).fill_null(0.0)


def per_speaker_sum(col: str | pl.Expr, speaker: str) -> pl.Expr:
    e = pl.col(col) if isinstance(col, str) else col
    return e.filter(pl.col("speaker") == speaker).sum()


# --- computation --------------------------------------------------------------------

def compute_timing(frame: pl.DataFrame, durations: Sequence[float], sig: SignalsConfig,
                   activity: pl.DataFrame | None = None, speech: pl.DataFrame | None = None) -> list[dict[str, Any]]:
    """Timing signals for every call in `frame` (calls numbered 0..len(durations)-1). `activity`
    (call, speaker, start, end): audio speech of the calls that have it (stereo); for those calls
    talk time and interruptions come from it rather than from word times. `speech` (same columns):
    the diarizer's speech segments of mono calls; talk time comes from them (as on stereo from the
    channels: word times lose speech the ASR missed and end early on narrow-band audio), interruptions
    still from the turns (mono segments never overlap). A call whose `speech` names neither operator
    nor client keeps its word times."""
    n_calls = len(durations)
    out: list[dict[str, Any]] = [_empty() for _ in range(n_calls)]
    if frame.height == 0:
        _edges_only(out, durations, sig)
        return out
    io = sig.interruptions
    df = (frame.sort("call", "start", "end")
          .with_columns(duration().alias("dur"), prev_end_any().alias("_prev_end"))
          .with_columns(silence_gap(sig.silence.min_gap_s).alias("gap")))
    found = interruptions(df, io.min_overlap_s, sig.silence.pause_in_turn_s, io.ignore_backchannels, activity)

    # talk time: word-level speech where the turn has word times, else the turn's span
    talk = (pl.coalesce(pl.col("speech"), pl.col("dur")) if "speech" in df.columns else pl.col("dur"))
    df = df.with_columns(talk.alias("talk"))
    # the pace is words over the time of the turns that have words: a turn without any (an empty or
    # blank turn of an imported transcript) is talk time, not slow speech
    voiced = pl.when(pl.col("words") > 0).then(pl.col("talk")).otherwise(0.0)
    agg = (df.group_by("call").agg(
        per_speaker_sum("talk", "operator").alias("talk_op"),
        per_speaker_sum("talk", "client").alias("talk_cl"),
        per_speaker_sum(voiced, "operator").alias("voiced_op"),
        per_speaker_sum(voiced, "client").alias("voiced_cl"),
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
    ))
    heard: dict[int, dict[str, float]] = {}  # audio talk time: the speakers' runs of speech
    if speech is not None and speech.height:  # mono: the diarizer's segments of the roles
        speech = speech.filter(pl.col("speaker").is_in(SPEAKERS))
        if activity is not None and activity.height:
            speech = speech.filter(~pl.col("call").is_in(activity["call"].unique().implode()))
    for spans in (activity, speech):
        if spans is None or not spans.height:
            continue
        runs = speech_runs(spans.select("call", "speaker", "start", "end"), sig.silence.pause_in_turn_s)
        for r in (runs.group_by("call", "speaker").agg((pl.col("end") - pl.col("start")).sum().alias("s"))
                  .iter_rows(named=True)):
            heard.setdefault(r["call"], {})[r["speaker"]] = r["s"]
        for c in spans["call"].unique().to_list():
            heard.setdefault(c, {})
    for r in agg.iter_rows(named=True):
        c = r["call"]
        d = out[c]
        op, cl = ((heard[c].get("operator", 0.0), heard[c].get("client", 0.0)) if c in heard
                  else (r["talk_op"], r["talk_cl"]))
        d["talk_time_s"] = {"operator": op, "client": cl}
        d["talk_ratio_operator"] = op / (op + cl) if op + cl > 0 else None
        d["words"] = {"operator": int(r["words_op"]), "client": int(r["words_cl"])}
        d["speech_rate_wpm"] = {"operator": _rate(r["words_op"] * 60.0, r["voiced_op"]),
                                "client": _rate(r["words_cl"] * 60.0, r["voiced_cl"])}
        d["syllables_per_s"] = {"operator": _rate(r["syl_op"], r["voiced_op"]),
                                "client": _rate(r["syl_cl"], r["voiced_cl"])}
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

    for r in found.iter_rows(named=True):
        ints = out[r["call"]]["interruptions"]
        ints["by_" + r["speaker"]] += 1
        ints["items"].append({"start": r["start"], "end": r["end"], "speaker": r["speaker"], "turn": r["turn"],
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


# A side the audio measures (stereo channel activity, mono diarizer speech) heard at least this
# long speaks, even when the ASR kept none of its words (a badly recorded 8 kHz client leg).
HEARD_SIDE_MIN_S = 2.0


def script_not_applicable(turns: Sequence[Any], sig: SignalsConfig,
                          heard_s: Mapping[str, float] | None = None,
                          heard: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> str | None:
    """Why the call's script does not apply, or None: a one-sided recording (voicemail, an IVR
    prompt, an operator talking into a silent line: only one side speaks), a conversation shorter
    than `compliance.min_call_s` (a wrong number, a dropped call), or an operator whose speech the
    ASR left largely without words (`untranscribed`). Such a call gets no script score and no
    `script_missing` flag: the operator could not have followed the script, or what they said cannot
    be checked. `heard_s`: seconds of speech per side measured from the audio, when measured; a side
    heard there speaks although the ASR wrote none of its words; `heard`: those speech spans."""
    spoken = [t for t in turns if (getattr(t, "text", "") or "").strip()]
    sides = {t.speaker for t in spoken} | {side for side, s in (heard_s or {}).items() if s >= HEARD_SIDE_MIN_S}
    opts = sig.compliance
    if opts.requires_both_sides and not {"operator", "client"} <= sides:
        if not spoken:
            return "no speech"
        heard = "the operator" if "operator" in sides else "the client" if "client" in sides else "one side"
        return f"one-sided recording: only {heard} speaks (voicemail, IVR or a silent line)"
    if spoken and opts.min_call_s > 0:
        length = max(t.end for t in spoken) - min(t.start for t in spoken)
        if length < opts.min_call_s:
            return (f"a conversation of {length:.0f} s, shorter than signals.compliance.min_call_s "
                    f"({opts.min_call_s:g} s): a wrong number or a dropped call")
    lost, speech = untranscribed(turns, (heard or {}).get("operator") or ())
    if opts.max_untranscribed_share < 1.0 and speech > 0 and lost >= opts.min_untranscribed_s \
            and lost / speech >= opts.max_untranscribed_share:
        return (f"{lost:.0f} s of the operator's {speech:.0f} s of speech have no transcribed word "
                f"({lost / speech:.0%}, signals.compliance.max_untranscribed_share "
                f"{opts.max_untranscribed_share:g}): the stages missing may be in what the speech recognition lost")
    return None


UNTRANSCRIBED_REACH_S = 0.3  # a word's time covers speech this near it (word times end early on narrow band)


def untranscribed_spans(turns: Sequence[Any], spans: Sequence[tuple[float, float]],
                        speaker: str | None = "operator") -> list[tuple[float, float]]:
    """The parts of the speech `spans` that no turn of `speaker` (None: of anyone) with text covers: what
    the audio heard the speaker say that the transcript has no word for."""
    said = [(t.start - UNTRANSCRIBED_REACH_S, t.end + UNTRANSCRIBED_REACH_S) for t in turns
            if speaker in (None, t.speaker) and (getattr(t, "text", "") or "").strip()]
    return uncovered([(float(a), float(b)) for a, b in spans if b > a], said)


def untranscribed(turns: Sequence[Any], spans: Sequence[tuple[float, float]],
                  speaker: str = "operator") -> tuple[float, float]:
    """(seconds of the speech `spans` that no turn of `speaker` with text covers, seconds of `spans`)."""
    return (sum(b - a for a, b in untranscribed_spans(turns, spans, speaker)),
            sum(float(b) - float(a) for a, b in spans if b > a))


UNTRANSCRIBED_SPANS = 5  # the longest stretches without words listed (flag evidence)
ROLES = ("operator", "client")


def untranscribed_speech(turns: Sequence[Any],
                         heard: Mapping[str, Sequence[tuple[float, float]]] | None) -> dict[str, Any] | None:
    """`signals.untranscribed`: of the speech the audio measures heard each side say (`heard`: stereo
    channel activity, mono diarizer speech), how much no transcribed turn covers -- `seconds`, `speech_s`,
    `share` -- and its longest stretches (`spans`: start, end, speaker, None for a voice without a role; at
    most `UNTRANSCRIBED_SPANS`). What a supervisor reads nothing of, though it was said: Whisper drops windows it
    scores as no speech, or stops after conditioning on its own garbled text. A turn of either side covers
    (a mono word given to the wrong voice is not speech lost). None when the audio was not measured (an
    imported transcript)."""
    if not heard:
        return None
    lost: list[tuple[float, float, str]] = []
    speech = 0.0
    for side, spans in heard.items():
        speech += sum(float(b) - float(a) for a, b in spans if b > a)
        lost.extend((a, b, side) for a, b in untranscribed_spans(turns, spans, None))
    seconds = sum(b - a for a, b, _ in lost)
    longest = sorted(sorted(lost, key=lambda x: x[0] - x[1])[:UNTRANSCRIBED_SPANS])
    return {"seconds": round(seconds, 2), "speech_s": round(speech, 2),
            "share": round(seconds / speech, 3) if speech > 0 else None,
            "spans": [{"start": round(a, 2), "end": round(b, 2), "speaker": side if side in ROLES else None}
                      for a, b, side in longest]}

