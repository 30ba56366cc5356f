"""Signals throughput: calls per second for generated transcripts, and the share of a
call's processing time that analytics adds next to `tiny.en` transcription.

Generates N transcripts (default 10,000) of about 150 words each, half Russian and
half English (script phrases, fillers, escalations, numbers and varied filler text),
computes their signals with the default configuration (lexicon sentiment) through
`compute_signals_batch` in chunks, in one process and in `--workers` processes, and
transcribes one minute of audio with the bundled `tiny.en` model on the same machine.

    .venv/bin/python benchmarks/signals_throughput.py [--calls 10000] [--workers 2] [--audio FILE]

Target: >= 300 calls/s on 2 cores, i.e. analytics under 2 % of transcription time.
The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"

# Text material for generated calls (benchmark data, not library configuration).
PHRASES = {
    "ru": {
        "operator": ["Добрый день, компания Ромашка, меня зовут {name}.", "Чем я могу вам помочь?",
                     "Расскажите, пожалуйста, что именно произошло?", "Правильно ли я понимаю, что {thing} не работает?",
                     "Ну, вот, как бы, сейчас посмотрю.", "Понимаю ваше беспокойство.", "Оставайтесь на линии.",
                     "Я оформила заявку, номер обращения {digits}.", "Перезвоню вам до {day}.",
                     "Не знаю, но сейчас уточню.", "Могу ли я ещё чем-то помочь?", "Спасибо за обращение, всего доброго!",
                     "Типа это у нас бывает, короче.", "Когда вы последний раз пользовались {thing}?"],
        "client": ["Здравствуйте, у меня проблема с {thing}.", "Меня зовут {name}.", "Это безобразие, позовите руководителя!",
                   "Да, всё верно.", "Угу.", "Спасибо большое, всё работает.", "Я буду жаловаться.",
                   "Вчера вечером {thing} перестал работать.", "Ладно, жду.", "Это очень плохо."],
        "words": ("карта счёт приложение платёж перевод тариф интернет роутер договор заявка банк деньги вчера сегодня "
                  "утром вечером опять снова быстро медленно вообще просто очень сейчас потом когда почему где сколько "
                  "нужно можно хочу могу сделать проверить оплатить списать вернуть подключить отключить получить "
                  "пришло написано экран ошибка сообщение номер код пароль телефон адрес офис отделение неделю месяц "
                  "раньше нормально странно понятно хорошо плохо дорого дешево новый старый другой мой ваш").split(),
        "names": ["Анна", "Пётр", "Ольга", "Игорь", "Мария", "Сергей"],
        "things": ["картой", "приложением", "интернетом", "роутером", "переводом", "тарифом"],
        "days": ["пятницы", "завтра", "понедельника", "вечера"],
    },
    "en": {
        "operator": ["Good morning, thank you for calling Contoso, my name is {name}.", "How can I help you today?",
                     "Could you tell me what exactly happened?", "So what you're saying is the {thing} stopped working?",
                     "Um, you know, let me check that, uh, basically.", "I'm sorry to hear that.", "Please hold.",
                     "I have reset the {thing}. Your ticket number is {digits}.", "I will call you back by {day}.",
                     "I don't know, but let me check.", "Is there anything else I can help you with?",
                     "Thank you for calling, have a nice day!", "I would like to confirm your address.",
                     "When did you last use the {thing}?"],
        "client": ["Hi, I have a problem with my {thing}.", "My name is {name}.", "This is ridiculous, I want to speak to a manager!",
                   "Yes, that's right.", "Mm-hmm.", "Great, thanks, it works now.", "I will file a complaint.",
                   "Yesterday the {thing} stopped working.", "Okay, I'll wait.", "That is terrible."],
        "words": ("card account app payment transfer plan internet router contract request bank money yesterday today "
                  "morning evening again still quickly slowly really just very now later when why where how much need "
                  "can want could do check pay charge return connect cancel receive came says screen error message "
                  "number code password phone address office branch week month before normal strange clear good bad "
                  "expensive cheap new old other my your the a to of and it is was").split(),
        "names": ["Anna", "Peter", "Laura", "Mark", "David", "Kate"],
        "things": ["card", "app", "router", "transfer", "plan", "account"],
        "days": ["Friday", "tomorrow", "Monday", "tonight"],
    },
}


def make_call(rng: random.Random, lang: str, target_words: int = 150):
    """One generated transcript of about `target_words` words."""
    from callqa.pipeline.types import Transcript, Turn

    p = PHRASES[lang]
    turns, t, n_words, speaker = [], rng.uniform(0.2, 1.5), 0, "operator"
    while n_words < target_words:
        parts: list[str] = []
        want = rng.randint(6, 22)
        while sum(len(x.split()) for x in parts) < want:
            if rng.random() < 0.45:
                parts.append(rng.choice(p[speaker]).format(
                    name=rng.choice(p["names"]), thing=rng.choice(p["things"]), day=rng.choice(p["days"]),
                    digits=" ".join(str(rng.randint(0, 9)) for _ in range(rng.randint(3, 6)))))
            else:
                words = rng.sample(p["words"], rng.randint(3, 9))
                parts.append(" ".join(words).capitalize() + rng.choice([".", "?", ",", "."]))
        text = " ".join(parts)
        k = len(text.split())
        dur = k * rng.uniform(0.3, 0.45)
        turns.append(Turn(speaker, round(t, 3), round(t + dur, 3), text))
        n_words += k
        t += dur + rng.uniform(-0.8, 2.5)
        speaker = "client" if speaker == "operator" else "operator"
    return Transcript(turns=tuple(turns), language=lang, duration_s=round(t + 1.0, 3))


def make_calls(n: int, seed: int = 7) -> list:
    rng = random.Random(seed)
    return [make_call(rng, "ru" if i % 2 == 0 else "en") for i in range(n)]


# --- workers -------------------------------------------------------------------------------

_CONFIG = None


def _init_worker() -> None:
    global _CONFIG
    from callqa.pipeline.config import load_config
    from callqa.pipeline.signals import compute_signals_batch

    _CONFIG = load_config()
    compute_signals_batch(make_calls(4, seed=1), _CONFIG)  # load pipelines, compile patterns


def _run_chunk(chunk: list) -> tuple[int, int]:
    from callqa.pipeline.signals import compute_signals_batch

    out = compute_signals_batch(chunk, _CONFIG)
    return len(out), sum(s.filler_words["count"] for s in out)


def _noop(_: int) -> int:
    return os.getpid()


def bench_signals(calls: list, chunk: int, workers: int) -> dict:
    chunks = [calls[i:i + chunk] for i in range(0, len(calls), chunk)]
    if workers <= 1:
        _init_worker()
        t, cpu = time.perf_counter(), time.process_time()
        done = sum(_run_chunk(c)[0] for c in chunks)
        return {"workers": 1, "calls": done, "seconds": time.perf_counter() - t, "cpu_s": time.process_time() - cpu}
    # spawn, not fork: the parent has loaded torch / OpenMP, whose threads do not survive a fork
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, mp_context=ctx) as ex:
        list(ex.map(_noop, range(workers * 4)))  # every worker started and warmed up
        t = time.perf_counter()
        done = sum(n for n, _ in ex.map(_run_chunk, chunks))
        return {"workers": workers, "calls": done, "seconds": time.perf_counter() - t}


# --- transcription reference ----------------------------------------------------------------

def _audio_minute(path: Path | None):
    """60 s of 16 kHz mono float32 audio: the given file, else the longest sample call, else a real file."""
    import numpy as np

    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.config import load_config

    cands = [path] if path else []
    audio_dir = ROOT / "sample_calls" / "audio"
    if audio_dir.is_dir():
        cands += sorted((p for p in audio_dir.iterdir() if p.suffix in (".flac", ".wav", ".ogg")),
                        key=lambda p: -p.stat().st_size)
    cands += [REAL / "katiesteve.wav", REAL / "jfk.flac"]
    for c in cands:
        if c and c.is_file():
            audio = load_audio(c, load_config())
            x = audio.mono()
            reps = int(np.ceil(60 * audio.sample_rate / max(1, len(x))))
            return np.tile(x, reps)[: 60 * audio.sample_rate].astype("float32"), c
    return None, None


def bench_transcription(path: Path | None, repeat: int) -> dict | None:
    from callqa.pipeline.speech.asr import bundled_model_dir, load_whisper
    from callqa.pipeline.config import load_config

    model_dir = bundled_model_dir()
    audio, source = _audio_minute(path)
    if model_dir is None or audio is None:
        return None
    opts = load_config().section("models").asr
    model = load_whisper(str(model_dir), "cpu", opts.compute_type, opts.cpu_threads)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        segments, _info = model.transcribe(audio, language="en", beam_size=opts.beam_size,
                                           word_timestamps=opts.word_timestamps, vad_filter=opts.vad_filter)
        for _s in segments:
            pass
        times.append(time.perf_counter() - t)
    return {"model": "tiny.en", "audio": str(source), "seconds_per_minute": statistics.median(times)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2, help="processes for the parallel run (2 cores: 2)")
    ap.add_argument("--chunk", type=int, default=250, help="calls per compute_signals_batch")
    ap.add_argument("--audio", type=Path, help="audio for the transcription reference (default: a sample call)")
    ap.add_argument("--asr-repeat", type=int, default=2)
    ap.add_argument("--no-asr", action="store_true", help="skip the transcription reference")
    args = ap.parse_args(argv)

    t = time.perf_counter()
    calls = make_calls(args.calls)
    words = statistics.mean(sum(len(tu.text.split()) for tu in c.turns) for c in calls)
    print(f"generated {len(calls)} transcripts ({words:.0f} words each on average) in {time.perf_counter() - t:.1f} s")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} (other processes slow every rate below)"
          if load is not None else f"machine: {os.cpu_count()} CPUs")
    single = bench_signals(calls, args.chunk, 1)
    single_rate = single["calls"] / single["seconds"]
    cpu_ms = 1000 * single["cpu_s"] / single["calls"]
    print(f"1 process : {single_rate:7.0f} calls/s  ({1000 * single['seconds'] / single['calls']:.2f} ms wall, "
          f"{cpu_ms:.2f} ms CPU per call -> {1000 / cpu_ms:.0f} calls/s per free core)")
    summary = {"calls": len(calls), "words_per_call": round(words, 1), "load_average": load,
               "single_process_calls_per_s": round(single_rate, 1), "cpu_ms_per_call": round(cpu_ms, 3),
               "calls_per_s_per_free_core": round(1000 / cpu_ms, 1)}
    rate = single_rate
    if args.workers > 1:
        par = bench_signals(calls, args.chunk, args.workers)
        rate = par["calls"] / par["seconds"]
        print(f"{args.workers} processes: {rate:7.0f} calls/s")
        summary[f"{args.workers}_process_calls_per_s"] = round(rate, 1)
    summary["target_calls_per_s"] = 300
    summary["meets_target"] = rate >= 300

    if not args.no_asr:
        asr = bench_transcription(args.audio, args.asr_repeat)
        if asr is None:
            print("transcription reference skipped: no tiny.en model or no audio found")
        else:
            per_call = cpu_ms / 1000  # analytics CPU time per call on one core
            share = per_call / asr["seconds_per_minute"]
            print(f"tiny.en transcription of 1 minute: {asr['seconds_per_minute']:.2f} s ({asr['audio']})")
            print(f"analytics adds {100 * share:.2f} % of the transcription time per call (target < 2 %)")
            summary.update({"asr_seconds_per_minute": round(asr["seconds_per_minute"], 3),
                            "analytics_share_of_asr": round(share, 5)})
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
