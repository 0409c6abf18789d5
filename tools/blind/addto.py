"""Add one template to a red-flag rule's list (except, unless, unless_message, phrases, ...),
in the rule's own file, with an optional comment line above it.

    .venv/bin/python tools/blind/addto.py FILE RULE_ID KEY TEMPLATE [COMMENT]

Rule excepts void only the mentions inside the except's match; `unless` keeps the rule from
firing in a clause; for rules built of `all:` features use `unless_message`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add(path: Path, rule: str, key: str, template: str, comment: str | None) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"  - id: {rule}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("  - id: ")
                or (lines[i] and not lines[i].startswith(" "))), len(lines))
    while end > start and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
                           and lines[end - 1].startswith("  #")):
        end -= 1  # the next rule's leading comments and blank lines stay with it
    new = ([f"      # {comment}"] if comment else []) + [f"      - {json.dumps(template)}"]
    head = next((i for i in range(start, end) if lines[i] == f"    {key}:"), None)
    if head is None:
        lines[end:end] = [f"    {key}:", *new]
    else:
        last = head
        for i in range(head + 1, end):
            if lines[i].startswith("      "):
                last = i
            else:
                break
        lines[last + 1:last + 1] = new
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    add(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
