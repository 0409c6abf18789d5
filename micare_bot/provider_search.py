"""Finding a clinic's provider by (part of, or a misspelling of) their last name, with rapidfuzz.

Parents type what they remember: "nakamora", "Dr. Nakamura", "nakam", "naka mura".
Each provider is scored with rapidfuzz's WRatio (which takes the best of a
plain, a partial and a token-sorted comparison) against the last name and
against the name without titles; the best score counts. Titles in the query
("Dr.", "doctor", "Col") are dropped first. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from rapidfuzz import fuzz, utils

MIN_QUERY = 2
MAX_QUERY = 100
CUTOFF = 75.0  # measured: "Nakamora" scores 88 for Nakamura and 59 for Natarajan
LIMIT = 5
_TITLES = re.compile(r"\b(dr|doctor|doc|md|do|np|pa|capt|maj|col|lt|ltc|cdr|mr|mrs|ms)\b\.?", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    last_name: str


@dataclass(frozen=True)
class Match:
    id: str
    score: float


def clean_query(query: str) -> str:
    return " ".join(_TITLES.sub(" ", query).split())


def search(query: str, candidates: Sequence[Candidate], *, limit: int = LIMIT, cutoff: float = CUTOFF) -> list[Match]:
    """The best matches, best first (ties by name); nothing for a query under two letters."""
    q = utils.default_process(clean_query(query))
    if len(q.replace(" ", "")) < MIN_QUERY:
        return []
    scored = []
    for c in candidates:
        plain = utils.default_process(clean_query(c.name))
        score = max(fuzz.WRatio(q, utils.default_process(c.last_name)), fuzz.WRatio(q, plain))
        if score >= cutoff:
            scored.append((score, c))
    scored.sort(key=lambda sc: (-sc[0], sc[1].last_name.casefold(), sc[1].name.casefold()))
    return [Match(c.id, round(score, 1)) for score, c in scored[:limit]]
