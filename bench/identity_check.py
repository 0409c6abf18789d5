#!/usr/bin/env python3
"""Byte-identity check for performance work on the conversational core.

Records everything the core says about a fixed set of messages, so a speed-up
can be shown to change nothing:

* for every line of tests/data/utterances*.jsonl, tests/data/blind/utterances*.jsonl and
  the shared sample, and for the 10,000 messages core_bench.py times: the
  full reading repr (message, analysis, lattices, intent with scores, triage),
  the reading without the triage model's second opinion, the rules-and-lexicon
  reading, and the reading with the line before as `earlier`;
* `micare-bot replay` output (transcripts) for tests/data/conversations*.jsonl,
  tests/data/blind/conversations*.jsonl
  and the shared sample.

Usage:
    python bench/identity_check.py --out /tmp/base.txt          # record
    python bench/identity_check.py --out /tmp/new.txt --compare /tmp/base.txt
Exit status 1 when --compare finds a difference (the first few are printed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from core_bench import messages  # noqa: E402

from micare_bot import cli  # noqa: E402
from micare_bot.intents import load_understanding  # noqa: E402

DATA = ROOT / "tests" / "data"
# shared/ sits beside the main checkout; a worktree (/work/wt/NAME) is one level deeper
SHARED = next((p for p in (ROOT.parent / "shared" / "examples", ROOT.parent.parent / "shared" / "examples")
               if p.exists()), ROOT.parent / "shared" / "examples")
NOW = "2026-11-20T10:00:00"


def utterance_files() -> list[Path]:
    files = [*sorted(DATA.glob("utterances*.jsonl")), *sorted((DATA / "blind").glob("utterances*.jsonl")),
             SHARED / "utterances.sample.jsonl"]
    return [f for f in files if f.exists()]


def conversation_files() -> list[Path]:
    files = [*sorted(DATA.glob("conversations*.jsonl")), *sorted((DATA / "blind").glob("conversations*.jsonl")),
             SHARED / "conversations.sample.jsonl"]
    return [f for f in files if f.exists()]


def _lines(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]


def readings(label: str, texts: list[str]) -> list[str]:
    u = load_understanding()
    rules = u.without_models()
    out = []
    earlier = ""
    for n, text in enumerate(texts):
        out.append(f"{label}:{n} read {u.read(text)!r}")
        out.append(f"{label}:{n} rules_triage {u.read(text, second_opinion=False).triage!r}")
        out.append(f"{label}:{n} rules_only {rules.read(text)!r}")
        out.append(f"{label}:{n} earlier {u.read(text, earlier=earlier).triage!r}")
        earlier = text
    return out


def replays() -> list[str]:
    out = []
    for path in conversation_files():
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = cli.main(["replay", str(path), "--now", NOW])
        out.append(f"replay {path.name} rc={rc}")
        out.extend(buf.getvalue().splitlines())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--compare", type=Path, help="a recorded baseline to compare against")
    parser.add_argument("--bench-messages", type=int, default=10_000)
    args = parser.parse_args()

    lines: list[str] = []
    for path in utterance_files():
        lines += readings(path.name, _lines(path))
    lines += readings("bench", messages(args.bench_messages))
    lines += replays()
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(f"{len(lines)} lines, sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]} -> {args.out}")
    if args.compare is None:
        return 0
    base = args.compare.read_text().splitlines()
    diffs = [(i, a, b) for i, (a, b) in enumerate(zip(base, lines)) if a != b]
    if len(base) != len(lines):
        print(f"DIFFERENT: {len(base)} baseline lines, {len(lines)} now")
    for i, a, b in diffs[:5]:
        print(f"DIFFERENT line {i}:\n  was {a[:400]}\n  now {b[:400]}")
    if diffs or len(base) != len(lines):
        print(f"{len(diffs)} differing lines")
        return 1
    print("IDENTICAL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
