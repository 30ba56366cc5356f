"""Search at scale: index build rate, index size and query latency over generated calls.

Generates N call transcripts (default 100,000; half Russian, half English; about 24 turns
and 250 words each, from phrase templates and a vocabulary, with team, operator, date,
language and flags as a stored call has them) and indexes them with the library's own
`IndexWriter.add_result` (the same documents `update_index` writes). The calls go
**straight to the index builder, not through the store**: saving 100,000 results into
DuckDB one by one would take far longer than the indexing being measured. The end-to-end
path (`update_index` reading `Store.calls` / `Store.results`) is measured separately on
`--store-calls` calls saved into a real store.

Then runs a fixed set of queries (words, word families, phrases, NEAR, AND/OR/NOT, speaker
and time scopes, filters; date and relevance order; 20 moments each) `--rounds` times
after one warm-up round and prints p50 / p95 latency. Every query finds something by
construction (its words come from the templates, its team and week from the generator, the
rare phrase is put in every 1,000th call); a query that finds nothing is reported and the
exit status is 1.

    .venv/bin/python benchmarks/search.py [--calls|--n 100000] [--store-calls 2000] [--rounds 5] [--dir DIR]

Prints the build rate per wall-clock second and per CPU second (this process's CPU time,
tantivy's writer threads included: what a busy machine does not change). Targets: >= 200
calls/s build on 2 cores; p95 <= 200 ms. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Text material for generated calls (benchmark data, not library configuration).
TEXT = {
    "ru": {
        "operator": [
            "Здравствуйте, компания Мейпл Банк, меня зовут {name}. Чем могу помочь?",
            "Расскажите, пожалуйста, что именно произошло с {thing}?",
            "Правильно ли я понимаю, что {thing} не работает с {day}?", "Понимаю ваше беспокойство.",
            "Оставайтесь, пожалуйста, на линии, я проверю {thing}.", "Я оформила заявку, номер обращения {num}.",
            "Перезвоню вам до {day} и сообщу результат.", "Не знаю, но сейчас уточню у коллег.",
            "Я отменяю списание, деньги вернутся на ваш счёт в течение {num} дней.",
            "Могу ли я ещё чем-то помочь?", "Спасибо за обращение, всего доброго!",
            "Ваш тариф можно отключить в приложении или в отделении.", "Приношу извинения за неудобства.",
            "Руководитель сейчас занят, я передам ему ваше обращение.", "Ну, вот, как бы, сейчас посмотрю {w} {w}.",
        ],
        "client": [
            "Добрый день, у меня проблема с {thing}.", "Меня зовут {name}.", "Это безобразие, позовите руководителя!",
            "Да, всё верно.", "Угу.", "Спасибо большое, всё работает.", "Я буду жаловаться.",
            "Я хочу пожаловаться, напишу жалобу в банк.", "Вчера {thing} опять перестал работать.",
            "Верните мои деньги, мне списали {num} рублей.", "Хочу отключить тариф, он слишком дорогой.",
            "Почему мне никто не перезвонил {day}?", "Я закрою счёт и уйду к другому банку.", "Ладно, жду.",
            "Сколько можно {w} {w} {w}?", "А {w} {w} когда будет?",
        ],
        "names": ["Анна", "Пётр", "Ольга", "Игорь", "Мария", "Сергей", "Ирина", "Павел"],
        "things": ["картой", "приложением", "интернетом", "роутером", "переводом", "тарифом", "кредитом", "вкладом"],
        "days": ["пятницы", "понедельника", "завтра", "вечера", "конца недели", "среды"],
        "words": ("карта счёт приложение платёж перевод тариф интернет роутер договор заявка банк деньги вчера "
                  "сегодня утром вечером опять снова быстро медленно вообще просто очень сейчас потом когда почему "
                  "где сколько нужно можно хочу могу сделать проверить оплатить списать вернуть подключить отключить "
                  "получить пришло написано экран ошибка сообщение номер код пароль телефон адрес офис отделение "
                  "неделю месяц раньше нормально странно понятно хорошо плохо дорого дешево новый старый другой "
                  "кредит вклад процент комиссия кешбэк лимит баланс выписка").split(),
    },
    "en": {
        "operator": [
            "Hello, thank you for calling Maple Bank, my name is {name}. How can I help you?",
            "Could you tell me what exactly happened with {thing}?", "So what you're saying is {thing} stopped working.",
            "I understand, I am sorry for the trouble.", "Please stay on the line while I check {thing}.",
            "I have opened a ticket, your number is {num}.", "I will call you back by {day} with the result.",
            "I don't know, but I will find out right now.", "I am cancelling the fee, the money will be back in {num} days.",
            "Is there anything else I can help you with?", "Thank you for calling, have a nice day.",
            "You can cancel the plan in the app or in a branch.", "The manager is busy, I will pass on your request.",
            "Um, you know, let me look at {w} {w}.",
        ],
        "client": [
            "Hi, I have a problem with {thing}.", "My name is {name}.", "This is outrageous, I want to speak to a manager!",
            "Yes, that's right.", "Okay.", "Thank you so much, it works now.", "I will file a complaint.",
            "I want my money back, you charged me {num} dollars twice.", "I cancelled my subscription but you still charged me.",
            "Yesterday {thing} stopped working again.", "Why did nobody call me back on {day}?",
            "I am going to close my account.", "Fine, I'll wait.", "How long does {w} {w} {w} take?",
        ],
        "names": ["Anna", "Peter", "Olga", "Mark", "Mary", "Sam", "Kate", "Tom"],
        "things": ["my card", "the app", "the internet", "my router", "the transfer", "my plan", "the loan", "my deposit"],
        "days": ["Friday", "Monday", "tomorrow", "tonight", "the end of the week", "Wednesday"],
        "words": ("card account app payment transfer plan internet router contract ticket bank money yesterday today "
                  "morning evening again quickly slowly really just very now later when why where how much need "
                  "can want make check pay charge refund connect disconnect get came says screen error message number "
                  "code password phone address office branch week month before fine strange clear good bad expensive "
                  "cheap new old other my your loan deposit interest fee cashback limit balance statement").split(),
    },
}
FLAGS = ["escalation", "negative_end", "long_silence", "forbidden_phrase", "script_missing"]
START = datetime(2026, 9, 1, 8, 0)
RARE_EVERY = 1000  # call i with i % RARE_EVERY == 1 (English) has the client say RARE
RARE = {"en": "My cashback limit is wrong."}


def language_of(i: int) -> str:
    return "ru" if i % 2 == 0 else "en"


def team_of(i: int) -> str:
    return f"team-{i % 10}"


def started_of(i: int) -> datetime:
    return START + timedelta(minutes=(i * 37) % (90 * 24 * 60))


def fixed_queries(n: int) -> list[tuple[str, str]]:
    """The query set for n generated calls; the team and week filters are those of calls the
    generator makes (a Russian call's team; the week of the middle call)."""
    ru_team = team_of(4)  # call 4: even, so Russian
    day = started_of(n // 2 - (n // 2) % 2).date()  # a Russian call's day
    week = (day.isoformat(), (day + timedelta(days=6)).isoformat())
    return [
        ("ru word family", "пожаловаться"), ("ru word", "тариф"), ("ru phrase", '"позовите руководителя"'),
        ("ru NEAR", "отключить NEAR/3 тариф"), ("ru AND NOT", "деньги вернуть NOT спасибо"),
        ("ru speaker", "client:руководитель"), ("ru operator phrase", 'operator:"не знаю"'),
        ("ru first 30 s", "first:30s(здравствуйте)"), ("ru last 30 s client", "last:30s(client:спасибо)"),
        ("ru team + word", f"team:{ru_team} жалоба"), ("ru week + word", f"from:{week[0]} to:{week[1]} списание"),
        ("en word forms", "cancel"), ("en phrase", '"money back"'), ("en NEAR", "charged NEAR/5 twice"),
        ("en OR", "complaint OR outrageous"), ("en speaker AND", "operator:(sorry AND understand)"),
        ("en filters", "lang:en first:20s(hello)"), ("en flag", "flag:escalation manager"),
        ("en group NOT", "(router OR internet) NOT working"), ("rare phrase", "client:(cashback NEAR/2 limit)"),
        ("late in the call", "last:10s(здравствуйте OR hello)"),
    ]


RELEVANCE = ["пожаловаться", "cancel", '"money back"', "client:руководитель"]


def generate(i: int, rng: random.Random) -> dict[str, Any]:
    lang = language_of(i)
    t = TEXT[lang]
    fill = {"name": lambda: rng.choice(t["names"]), "thing": lambda: rng.choice(t["things"]),
            "day": lambda: rng.choice(t["days"]), "num": lambda: str(rng.randint(2, 9)),
            "w": lambda: rng.choice(t["words"])}
    turns, clock = [], 0.5
    n_turns = rng.randint(16, 32)
    for k in range(n_turns):
        speaker = "operator" if k % 2 == 0 else "client"
        parts = []
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            tpl = t[speaker][0] if k == 0 else rng.choice(t[speaker])
            out = tpl
            while "{" in out:
                a = out.index("{")
                b = out.index("}", a)
                out = out[:a] + fill[out[a + 1:b]]() + out[b + 1:]
            parts.append(out)
        text = " ".join(parts)
        dur = 0.35 * (text.count(" ") + 1) + rng.random()
        turns.append({"speaker": speaker, "start": round(clock, 2), "end": round(clock + dur, 2), "text": text})
        clock += dur + rng.random() * 1.5
    if i % RARE_EVERY == 1 and lang in RARE:
        turns.append({"speaker": "client", "start": round(clock, 2), "end": round(clock + 2.0, 2), "text": RARE[lang]})
        clock += 2.5
    flags = [{"id": f} for f in rng.sample(FLAGS, rng.choice((0, 0, 0, 1, 2)))]
    return {"call_id": f"gen-{i:06d}", "language": lang, "team": team_of(i),
            "operator_id": f"op-{(i * 7) % 200:03d}", "duration_s": round(clock + 1.0, 2),
            "started_at": started_of(i).isoformat(timespec="seconds"),
            "transcript": {"turns": turns}, "flags": flags, "analysis_id": f"a{i}"}


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(n: int, where: Path) -> dict[str, Any]:
    from callqa.pipeline.search.index import SearchIndex

    rng = random.Random(13)
    sindex = SearchIndex(where)
    words = 0
    spent = cpu = 0.0
    chunk = 2000
    first_rate = None
    with sindex.writer(heap_mb=400) as w:
        for base in range(0, n, chunk):
            batch = [generate(i, rng) for i in range(base, min(n, base + chunk))]
            words += sum(t["text"].count(" ") + 1 for c in batch for t in c["transcript"]["turns"])
            t0, c0 = time.perf_counter(), time.process_time()
            for c in batch:
                w.add_result(c)
            spent += time.perf_counter() - t0
            cpu += time.process_time() - c0
            if first_rate is None:
                first_rate = len(batch) / spent
            if (base // chunk) % 10 == 9:
                print(f"  {base + len(batch):>7} calls indexed, {((base + len(batch)) / spent):.0f} calls/s",
                      file=sys.stderr)
        t0, c0 = time.perf_counter(), time.process_time()
    commit_s = time.perf_counter() - t0  # commit + merge threads + state file
    cpu += time.process_time() - c0  # this process's CPU time, tantivy's writer threads included
    total = spent + commit_s
    return {"calls": n, "words": words, "build_s": round(total, 1), "calls_per_s": round(n / total, 1),
            "cpu_s": round(cpu, 1), "calls_per_cpu_s": round(n / cpu, 1),
            "first_chunk_calls_per_s": round(first_rate or 0, 1), "commit_s": round(commit_s, 1),
            "index_mb": round(du(where) / 1e6, 1), "bytes_per_call": round(du(where) / n)}


def queries(where: Path, rounds: int, n: int) -> dict[str, Any]:
    from callqa.pipeline.search.index import SearchIndex

    sindex = SearchIndex(where)
    times: dict[str, list[float]] = {}
    hits: dict[str, int] = {}
    fixed = fixed_queries(n)
    cases = [(name, q, "date") for name, q in fixed] + [(f"relevance: {q}", q, "relevance") for q in RELEVANCE]
    t0 = time.perf_counter()
    sindex.search(fixed[0][1], limit=20)
    cold = time.perf_counter() - t0
    for r in range(rounds + 1):
        for name, q, sort in cases:
            t0 = time.perf_counter()
            res = sindex.search(q, limit=20, sort=sort)
            dt = time.perf_counter() - t0
            if r:  # round 0 warms up
                times.setdefault(name, []).append(dt)
            hits[name] = len(res.hits)
    flat = sorted(x for v in times.values() for x in v)
    p = lambda xs, f: xs[min(len(xs) - 1, int(round(f * (len(xs) - 1))))]  # noqa: E731
    per = {name: {"median_ms": round(1000 * statistics.median(v), 1), "hits": hits[name]}
           for name, v in times.items()}
    return {"queries": len(cases), "rounds": rounds, "cold_first_query_ms": round(1000 * cold, 1),
            "p50_ms": round(1000 * p(flat, 0.5), 1), "p95_ms": round(1000 * p(flat, 0.95), 1),
            "max_ms": round(1000 * flat[-1], 1), "per_query": per,
            "no_hits": [name for name, v in per.items() if not v["hits"]]}


def via_store(n: int, where: Path) -> dict[str, Any]:
    """update_index end to end: results saved into a real store, then indexed from it."""
    from callqa.pipeline.search.index import search, update_index
    from callqa.pipeline.store.db import Store

    store = Store(where / "store")
    rng = random.Random(7)
    t0 = time.perf_counter()
    for i in range(n):
        r = generate(i, rng)
        r.update({"schema_version": 1, "role": "inbound", "indicators": [], "competencies": [], "signals": {},
                  "source": {"path": f"{r['call_id']}.json", "sha256": f"{i:064d}"}, "models": {},
                  "config_hash": "bench", "transcript_id": f"t{i}"})
        store.save(r)
    save_s = time.perf_counter() - t0
    stats = update_index(store.path)
    t0 = time.perf_counter()
    search(store.path, "пожаловаться")  # with the staleness check
    check_s = time.perf_counter() - t0
    return {"calls": n, "store_save_s": round(save_s, 1), "update_index_s": round(stats.seconds, 1),
            "update_calls_per_s": round(n / stats.seconds, 1), "failed": len(stats.failed),
            "search_with_stale_check_ms": round(1000 * check_s, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", "--n", dest="calls", type=int, default=100_000, help="generated calls to index")
    ap.add_argument("--store-calls", type=int, default=2000, help="calls for the end-to-end update_index run (0: skip)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path, help="work directory (default: a temporary one, removed afterwards)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = args.dir or Path(tempfile.mkdtemp(prefix="callqa-search-bench-"))
    try:
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} (a busy machine slows the wall-clock "
              f"figures; calls per CPU-second do not depend on it)")
        b = build(args.calls, work / "index")
        print(f"build: {b['calls']} calls ({b['words']} words) in {b['build_s']} s wall-clock, {b['cpu_s']} s of CPU; "
              f"index {b['index_mb']} MB ({b['bytes_per_call']} bytes/call)")
        print(f"build rate: {b['calls_per_s']} calls per wall-clock second, {b['calls_per_cpu_s']} calls per CPU second")
        q = queries(work / "index", args.rounds, args.calls)
        for name, v in q["per_query"].items():
            print(f"  {v['median_ms']:>7.1f} ms  {v['hits']:>3} hits  {name}")
        print(f"queries: p50 {q['p50_ms']} ms, p95 {q['p95_ms']} ms, max {q['max_ms']} ms "
              f"({q['queries']} queries x {q['rounds']} rounds; cold first query {q['cold_first_query_ms']} ms)")
        s = via_store(args.store_calls, work) if args.store_calls else None
        if s:
            print(f"store: {s['calls']} calls saved in {s['store_save_s']} s; update_index {s['update_index_s']} s "
                  f"= {s['update_calls_per_s']} calls/s; a search with the staleness check "
                  f"{s['search_with_stale_check_ms']} ms")
        print(json.dumps({"build": b, "queries": {k: v for k, v in q.items() if k != "per_query"}, "store": s,
                          "load": round(os.getloadavg()[0], 1)}))
        if q["no_hits"]:
            print(f"queries that found nothing (each should find calls): {', '.join(q['no_hits'])}", file=sys.stderr)
            return 1
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
