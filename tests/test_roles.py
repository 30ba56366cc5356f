"""Operator/client assignment: channel map, script cues, direction; swap from metadata."""

from __future__ import annotations

from callqa.pipeline.roles import assign_by_channel, assign_by_cues
from callqa.pipeline.types import CallMeta, Turn


def _t(speaker, start, text, channel=None):
    return Turn(speaker=speaker, start=start, end=start + 2, text=text, channel=channel)


def test_stereo_default_left_is_operator_and_channel_map_overrides(config):
    turns = [_t("channel_0", 0, "Hello"), _t("channel_1", 3, "Hi")]
    turns = [Turn(**{**t.__dict__, "channel": i}) for i, t in enumerate(turns)]
    tr = assign_by_channel(turns, CallMeta(), config, "en", 10)
    assert [t.speaker for t in tr.turns] == ["operator", "client"] and tr.role_confidence == 1.0
    tr = assign_by_channel(turns, CallMeta(channel_map=("client", "operator")), config, "en", 10)
    assert [t.speaker for t in tr.turns] == ["client", "operator"]
    tr = assign_by_channel(turns, CallMeta(swap_roles=True), config, "en", 10)
    assert [t.speaker for t in tr.turns] == ["client", "operator"]


def test_mono_script_cue_beats_speaking_order(config):
    turns = [_t("SPEAKER_00", 0, "Hello? Is anyone there?"),
             _t("SPEAKER_01", 3, "Good morning, thank you for calling, my name is Anna. How can I help you?"),
             _t("SPEAKER_00", 7, "My card is blocked.")]
    tr = assign_by_cues(turns, CallMeta(), config, "en", 12)
    assert [t.speaker for t in tr.turns] == ["client", "operator", "client"]
    assert tr.role_method == "script_cue" and tr.role_confidence >= 0.6


def test_mono_russian_cue(config):
    turns = [_t("A", 0, "Алло, здравствуйте"), _t("B", 2, "Здравствуйте! Меня зовут Ольга, чем могу помочь?")]
    tr = assign_by_cues(turns, CallMeta(), config, "ru", 6)
    assert [t.speaker for t in tr.turns] == ["client", "operator"]


def test_mono_no_cue_falls_back_to_direction(config):
    turns = [_t("A", 0, "Hello"), _t("B", 2, "Hello")]
    assert [t.speaker for t in assign_by_cues(turns, CallMeta(direction="inbound"), config, "en", 5).turns] == [
        "operator", "client"]
    tr = assign_by_cues(turns, CallMeta(direction="outbound"), config, "en", 5)
    assert [t.speaker for t in tr.turns] == ["client", "operator"] and tr.role_method == "direction"


def test_mono_client_who_introduces_themself_is_never_a_confident_wrong_answer(config):
    # Operator answers with a bare "hello"; the client introduces themself ("this is",
    # "my name is", "меня зовут") and states the problem. Cue phrases alone cannot tell
    # who is who, so whatever roles come out, the confidence stays below 0.8.
    en = [_t("A", 0, "Hello."),
          _t("B", 2, "Hi, this is John speaking, my name is John Smith. My card doesn't work."),
          _t("A", 6, "Okay, what is your account number?")]
    ru = [_t("A", 0, "Алло."),
          _t("B", 2, "Здравствуйте, меня зовут Иван, у меня проблема, карта не работает."),
          _t("A", 6, "Назовите номер договора.")]
    for turns, lang in ((en, "en"), (ru, "ru")):
        tr = assign_by_cues(turns, CallMeta(direction="inbound"), config, lang, 10)
        wrong = [t.speaker for t in tr.turns] != ["operator", "client", "operator"]
        assert not (wrong and tr.role_confidence >= 0.8), (lang, tr.role_method, tr.role_confidence)
