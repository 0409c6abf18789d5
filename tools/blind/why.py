"""Why a message reads as it does: every red-flag rule that fires (in evaluation order),
the word models' probabilities and the intent scores.

    .venv/bin/python tools/blind/why.py "text" ["text" ...]
"""

from __future__ import annotations

import sys

from micare_bot.intents import _Features, load_understanding


def fired_rules(u, message) -> list[str]:  # type: ignore[no-untyped-def]
    rules = u.rules
    original = rules._rule_fires
    disabled: set[int] = set()

    def patched(i, *args, **kwargs):  # type: ignore[no-untyped-def]
        return i not in disabled and original(i, *args, **kwargs)

    rules._rule_fires = patched
    out = []
    try:
        while True:
            found = rules.assess(message)
            if found.rule is None:
                return out
            out.append(f"{found.rule}:{found.level}")
            disabled.add(next(i for i, r in enumerate(rules.rules) if r.id == found.rule))
    finally:
        del rules._rule_fires


def main(texts: list[str]) -> int:
    u = load_understanding()
    for text in texts:
        m = u.message(text)
        r = u.read(text)
        p = u.triage_model.score(_Features(m).counts, shift={"routine": u.settings.routine_log_odds})
        print(f"{r.triage.level} ({r.triage.rule}) / {r.intent.intent} {r.intent.confidence}: {text}")
        print(f"  rules: {fired_rules(u, m)}")
        print(f"  model: {', '.join(f'{k} {v:.2f}' for k, v in sorted(p.items(), key=lambda kv: -kv[1]))}")
        print(f"  intent scores: {r.intent.scores}")
        print(f"  clauses: {[' '.join(w) for w in m.words]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
