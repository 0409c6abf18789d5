"""Every labeled line's reading, to compare two trees (a change's side effects).

    .venv/bin/python tools/blind/sweep.py OUT.json            # write this tree's readings
    .venv/bin/python tools/blind/sweep.py --compare BASE.json NEW.json

A line counts as worse when it was right (triage and, on routine lines, intent) and is not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from micare_bot.intents import load_understanding

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "tests" / "data").glob("utterances*.jsonl")) + sorted(
    (ROOT / "tests" / "data" / "blind").glob("utterances*.jsonl")) + [ROOT.parent / "shared" / "examples" / "utterances.sample.jsonl"]


def right(rec: dict, got: dict) -> bool:
    urgent_hit = rec["triage"] != "routine" and got["triage"] != "routine" and (
        rec["triage"] == "same_day" or got["triage"] != "same_day")
    if rec["triage"] != "routine":
        return urgent_hit
    return got["triage"] == "routine" and got["intent"] == rec["intent"]


def sweep(out: Path) -> None:
    u = load_understanding()
    readings = {}
    for f in FILES:
        if not f.exists():
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            r = u.read(rec["text"])
            readings[f"{f.stem}:{rec['id']}"] = {"text": rec["text"], "gold": [rec["intent"], rec["triage"]],
                                                 "intent": r.intent.intent, "triage": r.triage.level,
                                                 "rule": r.triage.rule}
    out.write_text(json.dumps(readings), encoding="utf-8")
    print(f"{len(readings)} lines -> {out}")


def compare(base: Path, new: Path) -> None:
    a, b = json.loads(base.read_text()), json.loads(new.read_text())
    worse = better = changed = 0
    for key, ra in a.items():
        rb = b.get(key)
        if rb is None:
            continue
        rec = {"intent": ra["gold"][0], "triage": ra["gold"][1]}
        was, now = right(rec, ra), right(rec, rb)
        if (ra["intent"], ra["triage"]) != (rb["intent"], rb["triage"]):
            changed += 1
        if was != now:
            worse += was
            better += now
            print(f"{'WORSE ' if was else 'better'} {key} gold {ra['gold']} {ra['intent']}/{ra['triage']} -> "
                  f"{rb['intent']}/{rb['triage']} ({rb['rule']}): {ra['text'][:160]}")
    print(f"worse {worse}, better {better}, readings changed {changed} of {len(a)}")


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        compare(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sweep(Path(sys.argv[1]))
