"""Stereo talk time and interruptions from each channel's audio (pipeline/signals/activity.py): two real
voices from a sample call placed on two channels with bleed and noise; the transcript alone would lose
speech the ASR missed, the audio does not."""

from __future__ import annotations

import numpy as np
import pytest

from callqa.pipeline.speech.decode import Audio, load_audio
from callqa.pipeline.config import load_config
from callqa.pipeline.signals import compute_signals
from callqa.pipeline.signals import activity
from callqa.pipeline.signals.activity import channel_speech
from callqa.pipeline.types import AudioSource, CallMeta, Transcript, Turn, Word

SR = 16000
OP_AT, CL_AT = 1.0, 4.0  # the client comes in 3 s into the operator's turn


@pytest.fixture(scope="module")
def stereo(sample_calls_dir, config):
    """(samples, operator span, client span): the operator's first turn of en_mono_inbound on channel 0,
    the client's first turn on channel 1 starting while the operator talks, each bleeding into the
    other channel at -26 dB, pink-ish noise 35 dB under the speech."""
    import json

    mono = load_audio(sample_calls_dir / "audio" / "en_mono_inbound.wav", config)
    truth = json.loads((sample_calls_dir / "truth" / "en_mono_inbound.json").read_text(encoding="utf-8"))
    op_t, cl_t = truth["turns"][0], truth["turns"][1]
    assert (op_t["speaker"], cl_t["speaker"]) == ("operator", "client")
    x = mono.mono()
    op = x[int(op_t["start"] * mono.rate):int(op_t["end"] * mono.rate)]
    cl = x[int(cl_t["start"] * mono.rate):int(cl_t["end"] * mono.rate)]
    n = int((CL_AT + len(cl) / SR + 1.5) * SR)
    own = np.zeros((2, n), dtype=np.float32)
    own[0, int(OP_AT * SR):int(OP_AT * SR) + len(op)] = op
    own[1, int(CL_AT * SR):int(CL_AT * SR) + len(cl)] = cl
    g = 10 ** (-26 / 20)
    mix = own + g * own[::-1]
    rng = np.random.default_rng(0)
    level = float(np.sqrt(np.mean(op ** 2)))
    mix += (rng.standard_normal(mix.shape) * level * 10 ** (-35 / 20)).astype(np.float32)
    return mix.astype(np.float32), (OP_AT, OP_AT + len(op) / SR), (CL_AT, CL_AT + len(cl) / SR)


def _turns(sample_calls_dir, config, n):
    """The first `n` turns of the sample mono call (operator, client, operator, ...), as 16 kHz samples."""
    import json

    mono = load_audio(sample_calls_dir / "audio" / "en_mono_inbound.wav", config)
    truth = json.loads((sample_calls_dir / "truth" / "en_mono_inbound.json").read_text(encoding="utf-8"))
    assert [t["speaker"] for t in truth["turns"][:2]] == ["operator", "client"]
    x = mono.mono()
    return [x[int(t["start"] * SR):int(t["end"] * SR)] for t in truth["turns"][:n]]


def _covered(spans, a, b):
    """Seconds of [a, b] the spans cover."""
    return sum(max(0.0, min(b, y) - max(a, x)) for x, y in spans)


def test_each_channel_hears_its_own_speaker_not_the_bleed(stereo):
    samples, (oa, ob), (ca, cb) = stereo
    op, cl = channel_speech(samples, SR)
    # the client's channel carries only the operator's bleed before the client speaks: not speech
    assert _covered(cl, 0.0, ca - 0.3) < 0.2
    assert _covered(op, ob + 0.3, samples.shape[1] / SR) < 0.2
    # each speaker's own stretch is heard nearly whole (voices pause between words)
    assert _covered(op, oa, ob) > 0.7 * (ob - oa)
    assert _covered(cl, ca, cb) > 0.7 * (cb - ca)
    assert min(a for a, _ in cl) == pytest.approx(ca, abs=0.3)


def _transcript(op_span, cl_words_from):
    """What an ASR might return: the operator's turn, and the client's words only from
    `cl_words_from` on (the client's first words, said over the operator, were missed)."""
    oa, ob = op_span
    op_words = tuple(Word(f"w{i}", oa + i * 0.5, oa + i * 0.5 + 0.4) for i in range(int((ob - oa) / 0.5)))
    cl_words = tuple(Word(f"c{i}", cl_words_from + i * 0.5, cl_words_from + i * 0.5 + 0.4) for i in range(4))
    return Transcript(turns=(
        Turn("operator", op_words[0].start, op_words[-1].end, "operator words " * 3, op_words, channel=0),
        Turn("client", cl_words[0].start, cl_words[-1].end, "but I asked about something else", cl_words, channel=1),
    ), language="en", duration_s=12.0)


def test_stereo_interruption_and_talk_time_come_from_the_audio(stereo, config):
    samples, op_span, cl_span = stereo
    audio = Audio(samples, AudioSource("x.wav", "0", SR, 2, samples.shape[1] / SR, "wav"), SR)
    # the ASR missed the client's first words: by the words the client started after the operator stopped
    tr = _transcript(op_span, cl_words_from=op_span[1] + 0.2)
    words_only = compute_signals(tr, config).serialize()
    assert words_only["interruptions"]["by_client"] == 0
    s = compute_signals(tr, config, audio=audio, meta=CallMeta(channel_map=("operator", "client"))).serialize()
    ints = s["interruptions"]
    assert (ints["by_operator"], ints["by_client"]) == (0, 1)
    assert ints["items"][0]["start"] == pytest.approx(cl_span[0], abs=0.3)
    assert ints["items"][0]["overlap_s"] > 1.0
    # talk time: what each channel's speaker said, not just the words the ASR kept
    assert s["talk_time_s"]["client"] > 0.8 * (cl_span[1] - cl_span[0])
    assert s["talk_time_s"]["client"] > 2 * words_only["talk_time_s"]["client"]
    assert s["talk_time_s"]["operator"] == pytest.approx(op_span[1] - op_span[0], rel=0.2)
    off = load_config(overrides={"signals": {"channel_activity": {"enabled": False}}})
    assert compute_signals(tr, off, audio=audio).serialize()["talk_time_s"] == words_only["talk_time_s"]


def test_channels_map_to_speakers_from_the_turns_when_the_meta_has_none(stereo, config):
    samples, op_span, cl_span = stereo
    audio = Audio(samples, AudioSource("x.wav", "0", SR, 2, samples.shape[1] / SR, "wav"), SR)
    s = compute_signals(_transcript(op_span, op_span[1] + 0.2), config, audio=audio).serialize()
    assert s["interruptions"]["by_client"] == 1


def test_a_quiet_line_coming_in_over_a_loud_one_is_speech_not_bleed(sample_calls_dir, config):
    """A client on a quiet line (15 dB under the operator's) who starts while the operator finishes: over
    the overlap the client's channel is 15 dB under the operator's, which a fixed 12 dB bleed test takes for
    the operator's bleed, so the interruption's overlap vanished (seed-555 and seed-777 simulated calls
    lost two client interruptions that way, onsets and sentence ends cut). This call's bleed sits 26 dB
    under the talker: measured per call (`bleed_margin_db`), only levels near that are bleed."""
    op, cl = _turns(sample_calls_dir, config, 2)
    cl = cl * 10 ** (-15 / 20)
    op_end = OP_AT + len(op) / SR
    cl_at = op_end - 1.0  # the client comes in for the operator's last second
    n = int((cl_at + len(cl) / SR + 1.0) * SR)
    own = np.zeros((2, n), dtype=np.float32)
    own[0, int(OP_AT * SR):int(OP_AT * SR) + len(op)] = op
    own[1, int(cl_at * SR):int(cl_at * SR) + len(cl)] = cl
    mix = own + 10 ** (-26 / 20) * own[::-1]
    rng = np.random.default_rng(1)
    mix += (rng.standard_normal(mix.shape) * float(np.sqrt(np.mean(cl ** 2))) * 10 ** (-35 / 20)).astype(np.float32)
    mix = mix.astype(np.float32)

    fixed = channel_speech(mix, SR)[1]
    per_call = channel_speech(mix, SR, bleed_margin_db=6.0)[1]
    assert _covered(per_call, cl_at, op_end) > 0.5 and _covered(fixed, cl_at, op_end) < 0.2
    assert _covered(per_call, 0.0, cl_at - 0.3) < 0.2  # the operator's bleed alone is still not the client


def test_a_noisy_line_that_says_little_is_not_heard_under_the_other_side(sample_calls_dir, config, monkeypatch):
    """A client who says 1.5 s on a noisy line (17 dB SNR) after the operator's 6 s: Silero fires on the
    operator's bleed under the noise, so most of the client channel's VAD "speech" is not the client's
    and its median level sits on the noise. The noise's ups and downs under the operator then passed for
    the client, and a false client interruption was counted (simulated call sim1234_008). Speech must be
    `floor_margin_db` over the channel's noise floor."""
    op, cl = _turns(sample_calls_dir, config, 2)
    cl = cl[:int(1.5 * SR)]
    op_end = OP_AT + len(op) / SR
    cl_at = op_end + 0.6
    own = np.zeros((2, int((cl_at + 2.5) * SR)), dtype=np.float32)
    own[0, int(OP_AT * SR):int(OP_AT * SR) + len(op)] = op
    own[1, int(cl_at * SR):int(cl_at * SR) + len(cl)] = cl
    noise_rms = float(np.sqrt(np.mean(cl ** 2))) * 10 ** (-17 / 20)
    under, heard, before = [], [], []
    for seed in range(1, 5):
        rng = np.random.default_rng(seed)
        mix = (own + 10 ** (-30 / 20) * own[::-1] + rng.standard_normal(own.shape) * noise_rms).astype(np.float32)
        client = channel_speech(mix, SR, bleed_margin_db=8.0, floor_margin_db=4.0)[1]
        under.append(_covered(client, OP_AT, op_end))
        heard.append(_covered(client, cl_at, cl_at + 1.5))
        with monkeypatch.context() as m:  # the VAD hearing the quiet channel as recorded, as it did then
            m.setattr(activity, "_vad_gain", lambda levels, c: 0.0)
            before.append(_covered(channel_speech(mix, SR, bleed_margin_db=8.0)[1], OP_AT, op_end))
    assert max(under) <= 0.1, under
    assert min(heard) >= 0.8, heard  # the client's own 1.5 s is still heard
    assert sum(before) > 0.5, before  # without the margin the noise under the operator was the client


def test_coming_back_in_over_a_reply_given_in_ones_own_pause_is_ones_own_interruption(sample_calls_dir, config):
    """The operator stops for 0.75 s, the client answers in that pause ("Yes, speaking."), and the operator
    goes on over the client's answer: the operator interrupted the client. Runs join a speaker's own pauses
    up to `pause_in_turn_s` (1 s), so the operator's two stretches made one run, the client's reply started
    inside it and was counted as the client's interruption (3 of 10 operator interruptions on unseen
    seed-3141 stereo calls reported that way, as the client's)."""
    op, cl = _turns(sample_calls_dir, config, 2)
    cut = len(op) // 2
    first, second = op[:cut], op[cut:]
    cl = cl[:int(1.3 * SR)]
    stop = OP_AT + len(first) / SR
    cl_at, back = stop + 0.05, stop + 0.75  # the reply in the pause; the operator back 0.7 s into it
    own = np.zeros((2, int((back + len(second) / SR + 1.0) * SR)), dtype=np.float32)
    own[0, int(OP_AT * SR):int(OP_AT * SR) + len(first)] = first
    own[0, int(back * SR):int(back * SR) + len(second)] = second
    own[1, int(cl_at * SR):int(cl_at * SR) + len(cl)] = cl
    rng = np.random.default_rng(2)
    mix = own + 10 ** (-26 / 20) * own[::-1]
    mix = (mix + rng.standard_normal(mix.shape) * float(np.sqrt(np.mean(op ** 2))) * 10 ** (-35 / 20)).astype(np.float32)
    audio = Audio(mix, AudioSource("x.wav", "0", SR, 2, mix.shape[1] / SR, "wav"), SR)

    def words(prefix, a, b):
        return tuple(Word(f"{prefix}{i}", a + i * 0.4, a + i * 0.4 + 0.3) for i in range(int((b - a) / 0.4)))

    op1, reply, op2 = words("a", OP_AT, stop), words("c", cl_at, cl_at + 1.3), words("b", back, back + len(second) / SR)
    tr = Transcript(turns=(
        Turn("operator", op1[0].start, op1[-1].end, "Am I speaking with Mr Green?", op1, channel=0),
        Turn("client", reply[0].start, reply[-1].end, "Yes, speaking.", reply, channel=1),
        Turn("operator", op2[0].start, op2[-1].end, "I am calling about your payment.", op2, channel=0),
    ), language="en", duration_s=mix.shape[1] / SR)
    meta = CallMeta(channel_map=("operator", "client"))
    ints = compute_signals(tr, config, audio=audio, meta=meta).serialize()["interruptions"]
    assert (ints["by_operator"], ints["by_client"]) == (1, 0)
    assert ints["items"][0]["start"] == pytest.approx(back, abs=0.3)
    assert ints["items"][0]["quote"].startswith("I am calling")
    # the same reply given after the operator has finished for good interrupts nobody
    late = Transcript(turns=tr.turns[:2], language="en", duration_s=tr.duration_s)
    quiet = own.copy()
    quiet[0, int(back * SR):] = 0.0
    mix2 = (quiet + 10 ** (-26 / 20) * quiet[::-1]
            + rng.standard_normal(quiet.shape) * float(np.sqrt(np.mean(op ** 2))) * 10 ** (-35 / 20)).astype(np.float32)
    audio2 = Audio(mix2, AudioSource("x.wav", "0", SR, 2, mix2.shape[1] / SR, "wav"), SR)
    ints2 = compute_signals(late, config, audio=audio2, meta=meta).serialize()["interruptions"]
    assert (ints2["by_operator"], ints2["by_client"]) == (0, 0)


def test_strong_bleed_both_ways_is_not_taken_for_the_other_side_speaking(sample_calls_dir, config):
    """Each side's voice 10 dB under it on the other channel (an echo canceller off, a speakerphone):
    the fixed 12 dB bleed test took the echo for speech, so each side "talked" through the other's
    turns: on 22 such copies of seed-4242 calls talk time was 0.15 off and 18 client interruptions were
    invented. The two sides' typical gap (`sides_gap`) tells the echo apart."""
    op, cl = _turns(sample_calls_dir, config, 2)
    op_end = OP_AT + len(op) / SR
    cl_at = op_end + 0.5
    own = np.zeros((2, int((cl_at + len(cl) / SR + 1.0) * SR)), dtype=np.float32)
    own[0, int(OP_AT * SR):int(OP_AT * SR) + len(op)] = op
    own[1, int(cl_at * SR):int(cl_at * SR) + len(cl)] = cl
    rng = np.random.default_rng(3)
    mix = own + 10 ** (-10 / 20) * own[::-1]
    mix = (mix + rng.standard_normal(mix.shape) * float(np.sqrt(np.mean(op ** 2))) * 10 ** (-35 / 20)).astype(np.float32)
    opx, clx = channel_speech(mix, SR, bleed_margin_db=8.0, floor_margin_db=4.0)
    assert _covered(clx, OP_AT, op_end) < 0.3  # the operator's echo on the client's side is not the client
    assert _covered(opx, cl_at, cl_at + len(cl) / SR) < 0.3
    assert _covered(opx, OP_AT, op_end) > 0.7 * (op_end - OP_AT)  # each side's own speech is still heard
    assert _covered(clx, cl_at, cl_at + len(cl) / SR) > 0.7 * len(cl) / SR


def test_a_client_leg_recorded_quieter_than_its_bleed_is_not_the_operator_talking(sample_calls_dir, config):
    """The recorder keeps the client's leg 12 dB down, and the client's bleed on the operator's channel (21 dB
    under the client's voice) is then only 9 dB under the client's own channel: the 12 dB bleed test took it
    for the operator talking through every client turn, so every client turn that came in near the
    operator's was an interruption (seed 4242's stereo calls so recorded: 3 invented on one call, 1.25 and
    2.25 s of "overlap"). The client's overlap with the operator's last second is still the client's."""
    op, cl = _turns(sample_calls_dir, config, 2)
    op_end = OP_AT + len(op) / SR
    cl_at = op_end - 1.0
    cl_end = cl_at + len(cl) / SR
    own = np.zeros((2, int((cl_end + 1.0) * SR)), dtype=np.float32)
    own[0, int(OP_AT * SR):int(OP_AT * SR) + len(op)] = op
    own[1, int(cl_at * SR):int(cl_at * SR) + len(cl)] = cl
    rng = np.random.default_rng(4)
    mix = own + 10 ** (-21 / 20) * own[::-1]
    mix = mix + rng.standard_normal(mix.shape) * float(np.sqrt(np.mean(op ** 2))) * 10 ** (-40 / 20)
    mix[1] *= 10 ** (-12 / 20)
    opx, clx = channel_speech(mix.astype(np.float32), SR, bleed_margin_db=8.0, floor_margin_db=4.0)
    assert _covered(opx, op_end + 0.2, cl_end) < 0.3  # the client's bleed is not the operator
    assert _covered(opx, OP_AT, op_end) > 0.7 * (op_end - OP_AT)
    assert _covered(clx, cl_at, op_end) > 0.5  # the client's overlap is the client's
    assert _covered(clx, cl_at, cl_end) > 0.7 * len(cl) / SR
    assert _covered(clx, 0.0, cl_at - 0.3) < 0.2  # the operator's bleed is not the client


def test_the_operator_coming_back_in_over_the_clients_reply_is_heard_on_the_operators_channel(sample_calls_dir,
                                                                                              config):
    """Ordinary bleed (21 dB both ways), the operator talking most of the call (two turns, the client's
    reply, the operator back in over its last 0.8 s). The client channel's voice activity also fires on
    the operator's bleed, so measured over all of it the operator channel's coupling comes out negative
    (-3.6 dB on a simulated call), and half of it took the operator's overlap for the client's bleed: the
    operator's interruption was lost. The coupling that tells a strong bleed is measured where the other
    channel is the louder."""
    def trimmed(x):  # the turn without the quiet before and after it
        loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
        return x[loud[0]:loud[-1] + 1]

    op, cl, op2 = map(trimmed, _turns(sample_calls_dir, config, 3))
    o2 = OP_AT + len(op) / SR + 0.4
    cl_at = o2 + len(op2) / SR + 0.5
    cl_end = cl_at + len(cl) / SR
    back = cl_end - 0.8
    own = np.zeros((2, int((back + len(op) / SR + 1.0) * SR)), dtype=np.float32)
    for ch, at, x in ((0, OP_AT, op), (0, o2, op2), (1, cl_at, cl), (0, back, op)):
        own[ch, int(at * SR):int(at * SR) + len(x)] = x
    rng = np.random.default_rng(5)
    mix = own + 10 ** (-21 / 20) * own[::-1]
    mix = mix + rng.standard_normal(mix.shape) * float(np.sqrt(np.mean(op ** 2))) * 10 ** (-40 / 20)
    opx, clx = channel_speech(mix.astype(np.float32), SR, bleed_margin_db=8.0, floor_margin_db=4.0)
    assert _covered(opx, back, cl_end) > 0.5  # the operator's overlap is the operator's
    assert _covered(opx, cl_at + 0.2, back - 0.2) < 0.3  # the client's reply before it is not
    assert _covered(clx, cl_at, cl_end) > 0.7 * len(cl) / SR


def test_a_strong_echo_both_ways_keeps_each_sides_words_on_its_own_channel(sample_calls_dir, config):
    """The sample inbound call with each side's voice 10 dB under it on the other channel, at 8 kHz
    A-law: with the fixed thresholds (a word is bleed 2 x 6 dB under the channel's own speech) the echo
    was transcribed as the other side's words, and where the levels tracked each other the quieter side
    was taken for a channel of nothing but bleed and lost every word (a simulated complaint call:
    the client's whole side). The sides' gap sets the margin instead."""
    import subprocess
    import tempfile
    from pathlib import Path

    import soundfile as sf

    from callqa.pipeline.speech.transcribe import transcribe_stereo

    x, rate = sf.read(sample_calls_dir / "audio" / "en_good_inbound.flac", dtype="float32")
    x = x[: rate * 35]
    g = 10 ** (-10 / 20)
    op, cl = x[:, 0], 0.5 * x[:, 1]  # a client line 6 dB quieter
    echo = np.stack([op + g * cl, cl + g * op], axis=1)
    with tempfile.TemporaryDirectory() as tmp:
        wav, law = Path(tmp) / "echo.wav", Path(tmp) / "echo_alaw.wav"
        sf.write(wav, echo, rate)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ar", "8000", "-c:a", "pcm_alaw",
                        str(law)], check=True)
        audio = load_audio(law, config)
    assert audio.channels == 2
    asr = transcribe_stereo(audio, config, "en")
    assert any("strong bleed" in n for n in asr.notes)
    said = {c: " ".join(t.text for t in asr.turns if t.channel == c).lower() for c in (0, 1)}
    assert "maple" in said[0] and "maple" not in said[1]  # the greeting is the operator's alone
    assert any(w in said[1] for w in ("hotel", "spain", "declined", "miller"))  # the client keeps their words
    assert not any(w in said[0] for w in ("hotel", "spain", "declined"))


def _late_echo(x: np.ndarray, delay_s: float, level_db: float) -> np.ndarray:
    """`x` as a speakerphone sends it back: telephone band, a reflection 12 ms on, `delay_s` late,
    `level_db` under it."""
    from scipy.signal import butter, sosfiltfilt

    y = sosfiltfilt(butter(6, [300.0, 3400.0], btype="bandpass", fs=SR, output="sos"), x)
    k = int(0.012 * SR)
    y[k:] += 10 ** (-6 / 20) * y[:-k].copy()
    y *= 10 ** (level_db / 20) * np.sqrt(np.mean(x ** 2) / np.mean(y ** 2))
    lag = int(delay_s * SR)
    out = np.zeros_like(x)
    out[lag:] = y[:x.size - lag]
    return out.astype(np.float32)


def _three_turns(sample_calls_dir, config):
    """The sample call's operator, client and operator turns half a second apart, each on its own channel:
    (the turns' samples, their start times, the two clean channels)."""
    parts = _turns(sample_calls_dir, config, 3)
    at = [OP_AT, OP_AT + len(parts[0]) / SR + 0.5]
    at.append(at[1] + len(parts[1]) / SR + 0.5)
    own = np.zeros((2, int((at[2] + len(parts[2]) / SR + 1.0) * SR)), dtype=np.float32)
    for (ch, t0), p in zip(((0, at[0]), (1, at[1]), (0, at[2])), parts):
        own[ch, int(t0 * SR):int(t0 * SR) + len(p)] = p
    return parts, at, own


def test_a_late_strong_echo_of_the_operator_is_not_the_client_speaking(sample_calls_dir, config):
    """The operator's voice back on the client channel 8 dB down and 180 ms late (a speakerphone, no
    echo cancelling at the client's end): compared frame by frame with the operator as it was said,
    the echo passed for the client talking through every operator turn (a -6 to -14 dB echo on 22
    simulated calls: talk-ratio error 0.21, 49 client interruptions invented). Re-timed by its delay
    (`echo_lag`), it is told apart."""
    from callqa.pipeline.speech.decode import echo_lag

    parts, at, mix = _echoed_three_turns(sample_calls_dir, config)
    assert abs(echo_lag(mix[0], mix[1], SR) / SR - 0.18) <= 0.01
    assert echo_lag(mix[1], mix[0], SR) == 0
    _assert_echo_is_not_the_client(parts, at, mix)


def _echoed_three_turns(sample_calls_dir, config, client_leg_db: float = 0.0, client_speaks: bool = True):
    """`_three_turns` with the operator back on the client channel 8 dB down and 180 ms late, the client's
    bleed 28 dB down on the operator's, line noise, and the client's leg recorded `client_leg_db` louder;
    without the client's turn unless `client_speaks`."""
    parts, at, own = _three_turns(sample_calls_dir, config)
    if not client_speaks:
        own[1] = 0.0
    mix = own.copy()
    mix[1] += _late_echo(own[0], 0.18, -8.0)
    mix[0] += 10 ** (-28 / 20) * own[1]
    rng = np.random.default_rng(5)
    mix = (mix + rng.standard_normal(mix.shape) * float(np.sqrt(np.mean(parts[0] ** 2))) * 10 ** (-35 / 20))
    mix[1] *= 10 ** (client_leg_db / 20)
    return parts, at, mix.astype(np.float32)


def _assert_echo_is_not_the_client(parts, at, mix):
    opx, clx = channel_speech(mix, SR, bleed_margin_db=8.0, floor_margin_db=4.0)
    for (t0, p) in ((at[0], parts[0]), (at[2], parts[2])):
        assert _covered(clx, t0, t0 + len(p) / SR + 0.18) < 0.3  # the echo is not the client
        assert _covered(opx, t0, t0 + len(p) / SR) > 0.7 * len(p) / SR
    assert _covered(clx, at[1], at[1] + len(parts[1]) / SR) > 0.7 * len(parts[1]) / SR  # the client is


def test_a_late_echo_on_a_client_leg_recorded_quieter_is_not_the_client_speaking(sample_calls_dir, config):
    """The same echo (8 dB down, 180 ms late) on a client leg the recorder keeps 12 dB down, echo and all:
    20 dB under the operator, the echo is weak against the operator's own level, yet only 8 dB under the
    client's voice. Judged as plain bleed, its tail after each operator turn was the client talking (seed
    5523, `--recorder quiet-client --echo strong`: client talk time 22 s -> 34 s on a call, 11 client
    interruptions invented on it). Re-timed, it is told apart half way between the echo and the client."""
    parts, at, mix = _echoed_three_turns(sample_calls_dir, config, client_leg_db=-12.0)  # the recorder's gain
    _assert_echo_is_not_the_client(parts, at, mix)
    # The transcription judges the client channel's words on the same frames: the echo's are the operator's
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S, channel_levels, late_echo_frames

    echo = late_echo_frames(mix, SR, 1, channel_levels(mix, SR)[1])
    assert echo is not None and abs(echo[1] - 0.18) <= 0.01 and echo[2] >= 14.0  # weak against the operator
    frames = echo[0]

    def share(t0, t1):
        return float(frames[int(t0 / BLEED_FRAME_S):int(t1 / BLEED_FRAME_S)].mean())

    for (t0, p) in ((at[0], parts[0]), (at[2], parts[2])):
        assert share(t0 + 0.18, t0 + len(p) / SR + 0.18) > 0.5  # the echo's frames
    assert share(at[1], at[1] + len(parts[1]) / SR) < 0.1  # not the client's


def test_a_client_leg_that_carries_only_the_operators_echo_has_no_speech(sample_calls_dir, config):
    """An IVR prompt or an operator talking to a silent line, recorded with the operator's echo (8 dB down,
    180 ms late) on a client leg kept 12 dB down: the leg's loud frames are the echo itself, so half way
    between the echo and that "voice" put the limit at the echo's median level and half of its frames
    passed for the client (seed 5631 and 5523: an IVR call with 0.7 s of client, talk-ratio error 0.07).
    The limit now stays under the echo's spread of levels."""
    parts, at, mix = _echoed_three_turns(sample_calls_dir, config, client_leg_db=-12.0, client_speaks=False)
    opx, clx = channel_speech(mix, SR, bleed_margin_db=8.0, floor_margin_db=4.0)
    assert sum(b - a for a, b in clx) < 0.1, clx  # nobody on the client's leg
    for t0, p in ((at[0], parts[0]), (at[2], parts[2])):
        assert _covered(opx, t0, t0 + len(p) / SR) > 0.7 * len(p) / SR
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S, channel_levels, late_echo_frames

    echo = late_echo_frames(mix, SR, 1, channel_levels(mix, SR)[1])
    assert echo is not None
    for t0, p in ((at[0], parts[0]), (at[2], parts[2])):  # the transcription's words there are the echo's
        loud = echo[0][int((t0 + 0.18) / BLEED_FRAME_S):int((t0 + len(p) / SR + 0.18) / BLEED_FRAME_S)]
        assert loud.mean() > 0.5


def test_an_echo_the_recorders_own_bleed_outweighs_is_found_by_its_onsets(sample_calls_dir, config):
    """The operator back on the client channel 10 dB down and 180 ms late, under the recorder's bleed of
    the operator at once, 12 dB down: the level envelopes follow each other best at no delay (the bleed;
    a syllable lasts longer than the echo's delay), so the echo went unfound and the client "talked"
    through the operator's turns (seed 4242 and 5151 with a strong echo: 4 of 44 calls). The envelopes'
    changes (onsets, decays) follow each other at the echo's delay; the bleed alone has no delay."""
    from callqa.pipeline.speech.decode import echo_lag

    op = np.concatenate(_turns(sample_calls_dir, config, 7)[0::2])  # the operator's turns, back to back
    rng = np.random.default_rng(1)
    level = float(np.sqrt(np.mean(op ** 2)))

    def noisy(x):
        return (x + rng.standard_normal(x.size) * level * 10 ** (-35 / 20)).astype(np.float32)

    bleed = 10 ** (-12 / 20) * op
    assert abs(echo_lag(noisy(op), noisy(bleed + _late_echo(op, 0.18, -10.0)), SR) / SR - 0.18) <= 0.01
    assert echo_lag(noisy(op), noisy(bleed), SR) == 0  # the bleed alone: no echo


def test_an_echo_whose_onsets_the_reflections_smear_is_found_by_the_envelopes_second_peak(config, tmp_path):
    """Simulated call 12 of seed 5003 (--echo strong): the operator back on the client channel 8 dB down and
    143 ms late with three reflections, under the recorder's bleed at once (21 dB down). The envelopes
    follow each other best at no delay (the bleed), the reflections smear the echo's onsets, so the echo went
    unfound: talk-ratio error 0.25 and 7 interruptions invented. The envelopes' correlation peaks again at
    the echo's delay (0.29 over its median; channels without an echo: at most 0.16)."""
    import sys
    from pathlib import Path

    from callqa.pipeline.speech.decode import echo_lag

    folder = str(Path(__file__).resolve().parent.parent / "sample_calls")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import simulate

    truth = simulate.generate(tmp_path, n=1, seed=5003, start=12, echo="strong")[0]
    audio = load_audio(tmp_path / truth["source"], config)
    cm = truth["meta"]["channel_map"]
    op, cl = cm.index("operator"), cm.index("client")
    assert truth["echo"]["on"] == "client"
    lag = echo_lag(audio.samples[op], audio.samples[cl], audio.rate) / audio.rate
    assert abs(lag - truth["echo"]["delay_ms"] / 1000) <= 0.02, lag
    assert echo_lag(audio.samples[cl], audio.samples[op], audio.rate) == 0
    heard = channel_speech(audio.samples, audio.rate, bleed_margin_db=8.0, floor_margin_db=4.0)
    said = [(u["start"], u["end"]) for u in truth["turns"] if u["role"] == "operator"]
    mine = [(u["start"], u["end"]) for u in truth["turns"] if u["role"] == "client"]
    echoed = sum(_covered(heard[cl], a, b + 0.2) for a, b in said) - sum(
        _covered(heard[cl], max(a, c), min(b + 0.2, d)) for a, b in said for c, d in mine if c < b + 0.2 and d > a)
    assert echoed < 0.1 * sum(b - a for a, b in said), echoed  # the echo is not the client talking
    assert sum(_covered(heard[cl], a, b) for a, b in mine) > 0.7 * sum(b - a for a, b in mine)


def test_a_quiet_client_leg_under_a_speakerphone_echo_is_heard(config, tmp_path):
    """Simulated call 4 of seed 5523 (`--requests 3 --recorder quiet-client --echo strong`): the client's leg
    recorded 12 dB down, echo and all, its loud frames 14 dB under the operator's. Silero heard 0.8 s of the
    client's 40 s there (talk-ratio error 0.445); raised to the operator's level for the VAD, the client is
    heard, and the operator's echo still is not the client."""
    import sys
    from pathlib import Path

    folder = str(Path(__file__).resolve().parent.parent / "sample_calls")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import simulate

    truth = simulate.generate(tmp_path, n=1, seed=5523, start=4, echo="strong", recorder="quiet-client",
                              requests=3)[0]
    audio = load_audio(tmp_path / truth["source"], config)
    cm = truth["meta"]["channel_map"]
    cl = cm.index("client")
    heard = channel_speech(audio.samples, audio.rate, bleed_margin_db=8.0, floor_margin_db=4.0)
    said = [(u["start"], u["end"]) for u in truth["turns"] if u["role"] == "operator"]
    mine = [(u["start"], u["end"]) for u in truth["turns"] if u["role"] == "client"]
    assert sum(_covered(heard[cl], a, b) for a, b in mine) > 0.6 * sum(b - a for a, b in mine)
    echoed = sum(_covered(heard[cl], a, b + 0.2) for a, b in said) - sum(
        _covered(heard[cl], max(a, c), min(b + 0.2, d)) for a, b in said for c, d in mine if c < b + 0.2 and d > a)
    assert echoed < 0.1 * sum(b - a for a, b in said), echoed  # the echo is not the client talking


def test_the_direct_bleed_under_a_late_echo_is_not_the_client_either(sample_calls_dir, config):
    """A client channel carrying the operator twice: the recorder's bleed at once (20 dB down) and the
    speakerphone's echo 280 ms late (8 dB down). Judged against the re-timed operator alone, each time
    the operator started again after a pause the bleed of the new words was "the client" until their
    echo arrived: on seed 5151 with a strong echo, 5 of 10 client interruptions were invented so. A run of
    0.15 s or more the other side is the plain bleed margin louder on, now, is not this side."""
    parts, at, own = _three_turns(sample_calls_dir, config)
    mix = own.copy()
    mix[1] += _late_echo(own[0], 0.28, -8.0) + 10 ** (-20 / 20) * own[0]
    mix[0] += 10 ** (-28 / 20) * own[1]
    rng = np.random.default_rng(7)
    mix = (mix + rng.standard_normal(mix.shape) * float(np.sqrt(np.mean(parts[0] ** 2))) * 10 ** (-35 / 20))
    opx, clx = channel_speech(mix.astype(np.float32), SR, bleed_margin_db=8.0, floor_margin_db=4.0)
    for (t0, p) in ((at[0], parts[0]), (at[2], parts[2])):
        assert _covered(clx, t0, t0 + len(p) / SR + 0.28) < 0.15  # neither the bleed nor the echo is the client
    assert _covered(clx, at[1], at[1] + len(parts[1]) / SR) > 0.7 * len(parts[1]) / SR  # the client is


def test_a_late_strong_echo_of_the_operator_is_not_transcribed_as_the_client(sample_calls_dir, config):
    """The sample inbound call with the operator's voice back on the client channel 8 dB down and
    200 ms late: the client's transcript held the operator's greeting and answers (simulated: WER
    0.31 as recorded, 0.59 with such an echo); the re-timed echo's words are dropped as the other
    side's, the client's own words stay."""
    import soundfile as sf

    from callqa.pipeline.speech.transcribe import transcribe_stereo

    x, rate = sf.read(sample_calls_dir / "audio" / "en_good_inbound.flac", dtype="float32")
    assert rate == SR
    x = np.ascontiguousarray(x[: rate * 35].T)
    x[1] += _late_echo(x[0], 0.2, -8.0)
    audio = Audio(x, AudioSource("echo.wav", "0", SR, 2, x.shape[1] / SR, "wav"), SR)
    asr = transcribe_stereo(audio, config, "en")
    said = {c: " ".join(t.text for t in asr.turns if t.channel == c).lower() for c in (0, 1)}
    operator = ("calling", "how can", "sorry", "bought")  # the operator's greeting and questions
    # tiny.en's own words vary a little with the numeric libraries ("bought" came out "ought" after a fresh
    # install): the operator keeps most of them, the client's channel none
    assert sum(w in said[0] for w in operator) >= 3 and not any(w in said[1] for w in operator), said
    assert all(w in said[1] for w in ("hotel", "spain", "declined", "miller"))  # the client keeps their words
    assert any("late" in n and "echo" in n for n in asr.notes)


def test_noise_under_the_other_sides_soft_syllables_is_not_this_side_cutting_in(config, tmp_path):
    """Simulated call 44 of seed 4811 (16 kHz, a recorder driven into clipping, keypad tones): weak bleed
    (-30 dB) on a line with noise. Where the operator's voice drops between syllables, its bleed on the
    client channel sinks under that channel's noise, the channels come within the bleed coupling less its
    margin, and the noise passed for the client talking: 0.2 s of it 0.6 s ahead of the client's quick
    reply at 50.6 s made the client cut in (the seed had 8 such invented client interruptions on 5 stereo
    calls). The bleed sits on the channel's own noise: this side talks only `bleed_margin_db` over the two
    together."""
    import sys
    from pathlib import Path

    folder = str(Path(__file__).resolve().parent.parent / "sample_calls")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import simulate

    truth = simulate.generate(tmp_path, n=1, seed=4811, start=44, keypad=True, recorder="clipped", requests=2)[0]
    turns = truth["turns"]
    reply = next(u for p, u in zip(turns, turns[1:]) if p["role"] == "operator" and u["role"] == "client"
                 and 0.0 <= u["start"] - p["end"] < 0.25 and u["start"] > 45.0)
    cut_in = next(u for u in turns if u["role"] == "client" and 19.0 < u["start"] < 25.0)
    assert [i["time"] for i in truth["interruptions"]] == [cut_in["start"]]
    audio = load_audio(tmp_path / truth["source"], config)
    opx, clx = channel_speech(audio.samples, audio.rate, bleed_margin_db=8.0, floor_margin_db=4.0)
    assert truth["meta"]["channel_map"] == ["operator", "client"]
    # nothing of the client's before its quick reply, while the operator finishes ...
    assert _covered(clx, reply["start"] - 1.5, reply["start"] - 0.1) < 0.05, clx
    # ... and the client's real interruption (1.1 s over the operator) is still heard from its start
    assert min(abs(a - cut_in["start"]) for a, _ in clx) < 0.2
    assert _covered(clx, reply["start"], reply["end"]) > 0.6 * (reply["end"] - reply["start"])


def _two_sides(sample_calls_dir, config, client, operator, seed):
    """Stereo audio of the sample call's first client turn cut into `client` pieces ((at, from, to) s: the
    turn's stretch from..to placed at `at`) on channel 1, and its first operator turn's `operator`
    pieces on channel 0, each bleeding 26 dB down into the other, with noise 35 dB under the speech."""
    op, cl = _turns(sample_calls_dir, config, 2)
    own = np.zeros((2, int(7.0 * SR)), dtype=np.float32)
    for ch, x, pieces in ((0, op, operator), (1, cl, client)):
        for at, a, b in pieces:
            piece = x[int(a * SR):int(b * SR)]
            own[ch, int(at * SR):int(at * SR) + len(piece)] = piece
    rng = np.random.default_rng(seed)
    mix = own + 10 ** (-26 / 20) * own[::-1]
    mix = (mix + rng.standard_normal(mix.shape) * float(np.sqrt(np.mean(op ** 2))) * 10 ** (-35 / 20)).astype(np.float32)
    return Audio(mix, AudioSource("x.wav", "0", SR, 2, mix.shape[1] / SR, "wav"), SR)


def _said(prefix, a, b, text, speaker, channel):
    ws = tuple(Word(f"{prefix}{i}", a + i * 0.4, a + i * 0.4 + 0.3) for i in range(max(1, int((b - a) / 0.4))))
    return Turn(speaker, ws[0].start, ws[-1].end, text, ws, channel=channel)


def test_coming_back_in_after_handing_over_the_floor_is_an_interruption_of_its_own(sample_calls_dir, config):
    """The client talks, the operator comes in over the client's last words, the client stops for 0.7 s
    while the operator goes on, then comes back in over the operator: two interruptions, the operator's and
    then the client's. The client's own pause joined the two stretches into one run that started before
    the operator's, so the client's coming back was no new start (unseen seed 5107, call 45: a quiet
    client's answer said over the operator's question was missed)."""
    audio = _two_sides(sample_calls_dir, config, client=[(1.0, 0.0, 1.6), (3.3, 1.6, 2.8)],
                       operator=[(1.8, 0.0, 4.2)], seed=4)
    tr = Transcript(turns=(
        _said("c", 1.0, 2.6, "Sure, it is four zero two two.", "client", 1),
        _said("o", 1.8, 6.0, "You know, what is the new address, please?", "operator", 0),
        _said("d", 3.3, 4.5, "Seven Church Lane.", "client", 1),
    ), language="en", duration_s=7.0)
    ints = compute_signals(tr, config, audio=audio, meta=CallMeta(channel_map=("operator", "client"))).serialize()
    ints = ints["interruptions"]
    assert [i["by"] for i in ints["items"]] == ["operator", "client"]
    assert [i["start"] for i in ints["items"]] == [pytest.approx(1.8, abs=0.35), pytest.approx(3.3, abs=0.35)]
    assert ints["items"][1]["quote"].startswith("Seven Church Lane")
    # a pause just after the other came in (a hole the louder side's bleed can leave in the quieter
    # channel) hands nothing over: the client's "No, thanks. Bye." goes on, the operator cut in over it
    audio = _two_sides(sample_calls_dir, config, client=[(1.0, 0.0, 1.6), (3.15, 1.6, 2.3)],
                       operator=[(2.5, 0.0, 3.5)], seed=5)
    tr = Transcript(turns=(
        _said("c", 1.0, 3.85, "No, thanks. Bye.", "client", 1),
        _said("o", 2.5, 6.0, "You are welcome. Goodbye.", "operator", 0),
    ), language="en", duration_s=7.0)
    ints = compute_signals(tr, config, audio=audio, meta=CallMeta(channel_map=("operator", "client"))).serialize()
    ints = ints["interruptions"]
    assert [i["by"] for i in ints["items"]] == ["operator"]
    assert ints["items"][0]["start"] == pytest.approx(2.5, abs=0.35) and ints["items"][0]["overlap_s"] > 1.0
