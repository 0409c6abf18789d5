"""Phrase templates and an exact index over stemmed token sequences.

Templates use a small syntax borrowed from hassil: ``(a|b)`` picks one
alternative, ``[x]`` and ``(x)?`` are optional, and they nest:
``refill [my] (meds|pills)``. ``...`` stands for a gap of up to
``MAX_GAP`` words inside one clause: ``how much ... to kill``. Expansion
happens once at load time; matching is then a dict lookup per n-gram instead
of a fuzzy scan over every phrase.

Matching runs over a *lattice*: at each position a few alternatives, each a
token and how many words it covers. A drug name is both its own stem and the
marker ``{drug}`` covering the whole name, so ``out of {drug}`` meets
"out of Crestor" and "out of insulin glargine".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Iterable, Iterator, Mapping, Sequence, TypeVar

from ..text import phrase_stems

T = TypeVar("T")

MAX_EXPANSIONS = 10_000
MAX_GAP = 8
GAP = "..."

Lattice = Sequence[Sequence[tuple[str, int]]]


class TemplateError(ValueError):
    """A lexicon template is malformed (raised at load time, never mid-conversation)."""


def expand(template: str) -> list[str]:
    """All plain phrases a template stands for."""
    results, end = _expand_seq(template, 0, template)
    if end != len(template):
        raise TemplateError(f"unbalanced bracket in template {template!r}")
    phrases = [" ".join(p.split()) for p in results]
    return [p for p in dict.fromkeys(phrases) if p]


def _expand_seq(s: str, i: int, template: str) -> tuple[list[str], int]:
    """Expand a sequence until a closing bracket or '|'; return (phrases, index)."""
    acc = [""]
    while i < len(s) and s[i] not in ")]|":
        ch = s[i]
        if ch in "([":
            close = ")" if ch == "(" else "]"
            options: list[str] = []
            i += 1
            while True:
                part, i = _expand_seq(s, i, template)
                options.extend(part)
                if i >= len(s):
                    raise TemplateError(f"unclosed {ch!r} in template {template!r}")
                if s[i] == "|":
                    i += 1
                    continue
                if s[i] != close:
                    raise TemplateError(f"mismatched bracket in template {template!r}")
                i += 1
                break
            if ch == "[" or (i < len(s) and s[i] == "?"):
                options.append("")
                if ch == "(" and i < len(s) and s[i] == "?":
                    i += 1
            acc = [a + " " + o + " " for a in acc for o in options]
        else:
            acc = [a + ch for a in acc]
            i += 1
        if len(acc) > MAX_EXPANSIONS:
            raise TemplateError(f"template {template!r} expands to too many phrases")
    return acc, i


def plain_lattice(tokens: Sequence[str]) -> list[list[tuple[str, int]]]:
    return [[(t, 1)] for t in tokens]


@dataclass(frozen=True)
class Match(Generic[T]):
    start: int
    end: int  # exclusive, in words
    payload: T


@dataclass(frozen=True)
class _Segment:
    pattern: int
    index: int


class PhraseIndex(Generic[T]):
    """Exact lookup of stemmed phrases (optionally with gaps) in a lattice."""

    def __init__(self, shorthand: Mapping[str, str] | None = None) -> None:
        self._table: dict[tuple[str, ...], list[object]] = {}
        self._prefixes: set[tuple[str, ...]] = set()
        self._gapped: list[tuple[int, T]] = []  # pattern id -> (segment count, payload)
        self._shorthand = shorthand
        self.max_len = 0

    def add(self, template: str, payload: T) -> None:
        for phrase in expand(template):
            if GAP in phrase:
                self._add_gapped(phrase, payload, template)
            else:
                self._add_key(self._key(phrase, template), payload)

    def add_all(self, templates: Iterable[str], payload: T) -> None:
        for template in templates:
            self.add(template, payload)

    def _key(self, phrase: str, template: str) -> tuple[str, ...]:
        key = phrase_stems(phrase, self._shorthand)
        if not key:
            raise TemplateError(f"template {template!r} yields an empty phrase")
        return key

    def _add_key(self, key: tuple[str, ...], payload: object) -> None:
        payloads = self._table.setdefault(key, [])
        if payload not in payloads:
            payloads.append(payload)
        for n in range(1, len(key) + 1):
            self._prefixes.add(key[:n])
        self.max_len = max(self.max_len, len(key))

    def _add_gapped(self, phrase: str, payload: T, template: str) -> None:
        parts = [p for p in phrase.split(GAP)]
        if any(not p.strip() for p in parts):
            raise TemplateError(f"a gap must sit between words in template {template!r}")
        pattern = len(self._gapped)
        self._gapped.append((len(parts), payload))
        for index, part in enumerate(parts):
            self._add_key(self._key(part, template), _Segment(pattern, index))

    def __len__(self) -> int:
        return len(self._table)

    def find(self, lattice: Lattice) -> Iterator[Match[T]]:
        """Every phrase occurrence in one clause."""
        segments: list[Match[_Segment]] = []
        for start, end, payload in self._scan(lattice):
            if isinstance(payload, _Segment):
                segments.append(Match(start, end, payload))
            else:
                yield Match(start, end, payload)  # type: ignore[arg-type]
        if segments:
            yield from self._chain(segments)

    def find_tokens(self, tokens: Sequence[str]) -> Iterator[Match[T]]:
        return self.find(plain_lattice(tokens))

    def _scan(self, lattice: Lattice) -> Iterator[tuple[int, int, object]]:
        table, prefixes = self._table, self._prefixes
        n = len(lattice)
        for start in range(n):
            frontier: list[tuple[tuple[str, ...], int]] = [((), start)]
            while frontier:
                grown: list[tuple[tuple[str, ...], int]] = []
                for prefix, pos in frontier:
                    if pos >= n:
                        continue
                    for token, width in lattice[pos]:
                        key = prefix + (token,)
                        if key not in prefixes:
                            continue
                        nxt = pos + width
                        for payload in table.get(key, ()):
                            yield start, nxt, payload
                        grown.append((key, nxt))
                frontier = grown

    def _chain(self, segments: list[Match[_Segment]]) -> Iterator[Match[T]]:
        by_pattern: dict[int, list[Match[_Segment]]] = {}
        for seg in segments:
            by_pattern.setdefault(seg.payload.pattern, []).append(seg)
        for pattern, segs in by_pattern.items():
            count, payload = self._gapped[pattern]
            for first in (s for s in segs if s.payload.index == 0):
                end = first.end
                for index in range(1, count):
                    nxt = [s for s in segs if s.payload.index == index and end <= s.start <= end + MAX_GAP]
                    if not nxt:
                        break
                    end = min(nxt, key=lambda s: s.start).end
                else:
                    yield Match(first.start, end, payload)
