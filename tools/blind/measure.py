"""Blind-round figures: rules alone and rules + models, per utterance file, with the misses.

    .venv/bin/python tools/blind/measure.py FILE.jsonl [FILE.jsonl ...]

Figures are the issue's targets: emergency + crisis + poison recall, same-day recall,
routine lines flagged urgent, intent accuracy on routine lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

from micare_bot.evaluate import evaluate, read_jsonl
from micare_bot.intents import load_understanding

URGENT = ("emergency", "crisis", "poison")


def records(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(read_jsonl(f, ("id", "text", "intent", "triage")))


def row(name: str, rep) -> str:
    return (f"{name:<28} urgent {rep.recall_rate(URGENT):6.1%}  same-day {rep.recall_rate(('same_day',)):6.1%}  "
            f"flagged {rep.over_triage_rate:5.1%} ({rep.over_triage})  intent {rep.intent_accuracy:6.1%}")


def main(paths: list[str]) -> int:
    full = load_understanding()
    rules = full.with_models(None, None)
    everything: list[dict] = []
    for p in map(Path, paths):
        recs = records(p)
        everything += recs
        print(row(p.stem + " rules", evaluate(rules, recs)))
        rep = evaluate(full, recs)
        print(row(p.stem + " full", rep))
        for w in rep.misclassified:
            print(f"    [{w['id']}] {','.join(w['problems'])}: {w['intent']}->{w['predicted_intent']} "
                  f"{w['triage']}->{w['predicted_triage']} ({w['rule']}): {w['text']}")
    if len(paths) > 1:
        print(row("ALL rules", evaluate(rules, everything)))
        print(row("ALL full", evaluate(full, everything)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
