"""Blind-round script figures: how many conversation scripts pass, and how the failures went.

    .venv/bin/python tools/blind/replay.py FILE.jsonl [FILE.jsonl ...] [--show] [--only ID,ID]

--show prints each failed script's transcript beside what it expected.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from micare_bot.conversation import load_engine
from micare_bot.evaluate import replay_script
from micare_bot.models import ClinicContext

NOW = datetime(2026, 11, 20, 10, 0)  # the labeled-set tests' clock


def main(argv: list[str]) -> int:
    show = "--show" in argv
    only: set[str] = set()
    if "--only" in argv:
        only = set(argv[argv.index("--only") + 1].split(","))
    paths = [a for a in argv if a.endswith(".jsonl")]
    engine = load_engine()
    for path in map(Path, paths):
        scripts = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        results = [replay_script(engine, s, clinic=ClinicContext(), now=NOW) for s in scripts]
        passed = sum(r["passed"] for r in results)
        print(f"{path.stem}: {passed}/{len(results)} passed")
        for s, r in zip(scripts, results):
            if r["passed"] or (only and s["id"] not in only):
                continue
            e = s["expect"]
            print(f"  {s['id']}: want {e.get('outcome')}/{e.get('intent')}/{e.get('triage')} {e.get('fields', {})}")
            print(f"  {' ' * len(s['id'])}  got  {r['outcome']}/{r['intent']}/{r['triage']} {r['fields']}")
            if show:
                print(f"      patient: {s['patient']}")
                for t in r["transcript"]:
                    print(f"      {t['from']:>7}: {t['text'][:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
