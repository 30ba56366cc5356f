"""Audio end to end on the English sample calls (Whisper tiny.en, embedded diarizer):
operator/client roles and talk ratio against the exact ground truth, and hold silence."""

from __future__ import annotations

import json

import pytest

from callqa.pipeline.inputs import is_audio_file
from callqa.pipeline.process import process_call

pytestmark = pytest.mark.slow


def _overlap(a0, a1, b0, b1):
    return max(0.0, min(a1, b1) - max(a0, b0))


@pytest.fixture(scope="session")
def audio_calls(sample_calls_dir, config):
    """Every English audio sample call processed once: {call_id: (result dict, truth dict)}."""
    from callqa.pipeline.config import load_config

    cfg_file = sample_calls_dir / "config.yaml"
    cfg = load_config(cfg_file) if cfg_file.is_file() else config
    out = {}
    for path in sorted((sample_calls_dir / "audio").iterdir()):
        if not is_audio_file(path):
            continue
        truth = json.loads((sample_calls_dir / "truth" / f"{path.stem}.json").read_text(encoding="utf-8"))
        out[path.stem] = (process_call(path, cfg).serialize(), truth)
    if not out:
        pytest.skip("no audio sample calls")
    return out


def _right_role(turn, truth):
    """The turn's speaker is the reference speaker it overlaps most (a turn said inside the
    other side's speech overlaps both equally: either speaker's own reference turn counts)."""
    best = {s: max((_overlap(turn["start"], turn["end"], t["start"], t["end"])
                    for t in truth["turns"] if t["speaker"] == s), default=0.0) for s in ("operator", "client")}
    other = "client" if turn["speaker"] == "operator" else "operator"
    return best[turn["speaker"]] > 0 and best[turn["speaker"]] >= best[other]


def _role_accuracy(result, truth):
    """Share of transcribed speech time with the right role."""
    right = total = 0.0
    for turn in result["transcript"]["turns"]:
        dur = turn["end"] - turn["start"]
        total += dur
        right += dur if _right_role(turn, truth) else 0.0
    return right / total if total else 0.0


def test_every_stereo_turn_has_the_right_role(audio_calls):
    stereo = {k: v for k, v in audio_calls.items() if v[1]["channels"] == 2}
    assert stereo, "expected stereo sample calls"
    for call_id, (result, truth) in stereo.items():
        assert result["transcript"]["role_method"] == "channel_map"
        wrong = [(t["start"], t["speaker"], t["text"]) for t in result["transcript"]["turns"]
                 if not _right_role(t, truth)]
        assert not wrong, f"{call_id}: turns with the wrong role: {wrong}"


def test_mono_calls_find_the_operator(audio_calls):
    mono = {k: v for k, v in audio_calls.items() if v[1]["channels"] == 1}
    assert mono, "expected mono sample calls"
    for call_id, (result, truth) in mono.items():
        acc = _role_accuracy(result, truth)
        assert acc >= 0.9, f"{call_id}: only {acc:.0%} of speech time has the right role"


def test_operator_talk_ratio_within_three_points(audio_calls):
    for call_id, (result, truth) in audio_calls.items():
        got = result["signals"]["talk_ratio_operator"]
        want = truth["expected"]["talk_ratio_operator"]
        assert abs(got - want) <= 0.03, f"{call_id}: talk ratio {got:.3f} vs reference {want:.3f}"


def test_hold_is_measured_as_the_longest_silence(audio_calls):
    holds = {k: v for k, v in audio_calls.items() if v[1]["expected"].get("hold_s")}
    assert holds, "expected a sample call with a long hold"
    for call_id, (result, truth) in holds.items():
        got = result["signals"]["longest_silence_s"]
        assert abs(got - truth["expected"]["longest_silence_s"]) <= 1.0, f"{call_id}: longest silence {got}"
        assert any(f["id"] == "long_silence" for f in result["flags"]), f"{call_id}: hold not flagged"


def test_results_record_how_they_were_made(audio_calls):
    for call_id, (result, truth) in audio_calls.items():
        assert result["models"]["asr"] and result["models"]["diarization"]
        assert result["source"]["channels"] == truth["channels"]
        assert result["source"]["sample_rate"] == truth["sample_rate"]
        assert abs(result["duration_s"] - truth["duration_s"]) < 0.1
        # What the ASR removed or re-decoded is visible, not silent.
        assert isinstance(result["processing"]["asr_dropped"], list)
        assert isinstance(result["processing"]["audio_notes"], list)


def test_no_indicator_is_scored_without_evidence_on_audio_calls(audio_calls):
    """Issue 10 acceptance (audio half; the transcripts are in test_competency.py): only talk
    ratio and speech rate may be scored without evidence, and absences never score a competency."""
    for cid, (result, _) in audio_calls.items():
        ind = {i["id"]: i for i in result["indicators"]}
        bare = [i for i, d in ind.items() if d["score"] is not None and not d["evidence"]
                and i not in ("talk_ratio", "speech_rate")]
        assert bare == [], (cid, bare)
        for c in result["competencies"]:
            if c["score"] is not None:
                assert any(ind[i]["evidence"] and not ind[i].get("absence") for i in c["indicators"]), (cid, c["id"])
