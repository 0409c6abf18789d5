#!/usr/bin/env python3
"""Benchmark of the conversational core (run: `make bench` or `python bench/core_bench.py`).

1. classify + triage over >= 10,000 distinct patient messages: messages/s and
   p50/p99 microseconds per message, on one core, after a warm-up pass.
2. Baseline in the same run: the naive design DESIGN.md measured, a rapidfuzz
   `process.extractOne` scan of every lexicon phrase per message, on a sample.
3. Replay of the conversation scripts: turns/s through the whole engine.
4. The learned second opinion's share: the labeled messages read by the rules
   and the lexicon alone, in the same run.

Messages are the labeled sets' lines plus pairs of lines joined into one
longer message, so every message is distinct (no per-message cache can
help); the lines as written are also timed on their own.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz, process  # noqa: E402

from micare_bot.conversation import load_engine  # noqa: E402
from micare_bot.evaluate import replay_script  # noqa: E402
from micare_bot.intents import load_understanding  # noqa: E402
from micare_bot.intents.phrases import expand  # noqa: E402
from micare_bot.models import ClinicContext  # noqa: E402

DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "examples"


def _texts() -> list[str]:
    texts = []
    for path in (*sorted(DATA.glob("utterances*.jsonl")), SHARED / "utterances.sample.jsonl"):
        if path.exists():
            texts += [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    return texts


def messages(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    base = _texts()
    out = list(base)
    while len(out) < count:
        a, b = rng.sample(base, 2)
        out.append(f"{a} {b}" if rng.random() < 0.5 else a.lower().rstrip(".?!") + " " + b)
    return list(dict.fromkeys(out))[:count]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_core(msgs: list[str]) -> dict[str, float]:
    u = load_understanding()
    for text in msgs[:500]:  # warm-up: token caches, first-call costs
        u.read(text)
    times = []
    start = time.perf_counter()
    for text in msgs:
        t0 = time.perf_counter_ns()
        u.read(text)
        times.append((time.perf_counter_ns() - t0) / 1000)
    total = time.perf_counter() - start
    return {"messages": len(msgs), "per_s": len(msgs) / total,
            "p50_us": statistics.median(times), "p99_us": percentile(times, 0.99)}


def bench_second_opinion(msgs: list[str]) -> dict[str, float]:
    """The same messages read with and without the learned models, interleaved so that
    both see the same caches and the same machine load."""
    u = load_understanding()
    rules = u.without_models()
    with_models: list[float] = []
    without: list[float] = []
    for text in msgs:
        t0 = time.perf_counter_ns()
        rules.read(text)
        t1 = time.perf_counter_ns()
        u.read(text)
        t2 = time.perf_counter_ns()
        without.append((t1 - t0) / 1000)
        with_models.append((t2 - t1) / 1000)
    return {"p50_rules_us": statistics.median(without), "p50_us": statistics.median(with_models),
            "p99_rules_us": percentile(without, 0.99), "p99_us": percentile(with_models, 0.99)}


def bench_baseline(msgs: list[str]) -> dict[str, float]:
    """Fuzzy-scan every intent phrase per message (what indexing replaced)."""
    u = load_understanding()
    phrases: list[str] = []
    for by_weight in u.lexicon.raw["intents"]["intents"].values():
        for templates in by_weight.values():
            for template in templates:
                phrases.extend(expand(template))
    times = []
    for text in msgs:
        t0 = time.perf_counter_ns()
        process.extractOne(text.lower(), phrases, scorer=fuzz.partial_ratio)
        times.append((time.perf_counter_ns() - t0) / 1000)
    return {"messages": len(msgs), "phrases": len(phrases), "p50_us": statistics.median(times)}


def bench_replay(rounds: int) -> dict[str, float]:
    engine = load_engine()
    scripts = []
    for path in (DATA / "conversations.jsonl", SHARED / "conversations.sample.jsonl"):
        if path.exists():
            scripts += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    now = datetime(2026, 11, 20, 10)
    clinic = ClinicContext()
    turns = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for script in scripts:
            turns += replay_script(engine, script, clinic=clinic, now=now)["turns"]
    total = time.perf_counter() - start
    return {"scripts": len(scripts) * rounds, "turns": turns, "turns_per_s": turns / total,
            "us_per_turn": total / turns * 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--baseline-sample", type=int, default=300)
    parser.add_argument("--replay-rounds", type=int, default=5)
    args = parser.parse_args()

    msgs = messages(args.messages)
    core = bench_core(msgs)
    single = bench_core(list(dict.fromkeys(_texts())))
    second = bench_second_opinion(list(dict.fromkeys(_texts())))
    base = bench_baseline(msgs[: args.baseline_sample])
    replay = bench_replay(args.replay_rounds)
    print(f"classify + triage: {core['messages']} distinct messages, {core['per_s']:,.0f} messages/s, "
          f"p50 {core['p50_us']:.0f} us, p99 {core['p99_us']:.0f} us (target: p50 <= 200 us)")
    print(f"classify + triage, the {single['messages']} labeled messages as written (one request each): "
          f"{single['per_s']:,.0f} messages/s, p50 {single['p50_us']:.0f} us, p99 {single['p99_us']:.0f} us")
    print(f"  the learned second opinion's share (same messages, interleaved): rules and lexicon alone "
          f"p50 {second['p50_rules_us']:.0f} us / p99 {second['p99_rules_us']:.0f} us, with the models "
          f"p50 {second['p50_us']:.0f} us / p99 {second['p99_us']:.0f} us")
    print(f"baseline (rapidfuzz extractOne over {base['phrases']:,} phrases, {base['messages']} messages): "
          f"p50 {base['p50_us']:.0f} us -> indexed core is {base['p50_us'] / core['p50_us']:.1f}x faster")
    print(f"replay: {replay['scripts']} scripts, {replay['turns']} turns, {replay['turns_per_s']:,.0f} turns/s "
          f"({replay['us_per_turn']:.0f} us per turn, whole engine with prompts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
