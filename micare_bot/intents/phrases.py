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
from typing import Any, Generic, Iterable, Iterator, Mapping, Sequence, TypeVar

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
        self._trie: dict[object, Any] = {}  # token -> child node; key None -> payloads
        self._gapped: list[tuple[int, T]] = []  # pattern id -> (segment count, payload)
        self._shorthand = shorthand
        self.max_len = 0

    def add(self, template: str, payload: T) -> None:
        parts = _split_gaps(template)
        if len(parts) > 1:
            self._add_gapped(parts, payload, template)
            return
        for phrase in expand(template):
            if GAP in phrase:
                raise TemplateError(f"a gap must not sit inside brackets in template {template!r}")
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
        if payload in payloads:
            return
        payloads.append(payload)
        node = self._trie
        for token in key:
            node = node.setdefault(token, {})
        node.setdefault(None, []).append(payload)
        self.max_len = max(self.max_len, len(key))

    def _add_gapped(self, parts: list[str], payload: T, template: str) -> None:
        # One pattern per template: each part's expansions all point at the same segment,
        # so a common word costs one lookup, not one per expanded phrase.
        pattern = len(self._gapped)
        self._gapped.append((len(parts), payload))
        for index, part in enumerate(parts):
            phrases = expand(part)
            if not phrases:
                raise TemplateError(f"a gap must sit between words in template {template!r}")
            for phrase in phrases:
                self._add_key(self._key(phrase, template), _Segment(pattern, index))

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

    def _scan(self, lattice: Lattice) -> list[tuple[int, int, object]]:
        """(start, end, payload) of every stored phrase, walking the trie from each start."""
        root = self._trie
        n = len(lattice)
        found: list[tuple[int, int, object]] = []
        if all(len(alts) == 1 for alts in lattice):
            # the common case, no drug or test names: a plain walk per start
            tokens = [alts[0][0] for alts in lattice]
            for start in range(n):
                node = root
                for pos in range(start, n):
                    node = node.get(tokens[pos])
                    if node is None:
                        break
                    payloads = node.get(None)
                    if payloads:
                        for payload in payloads:
                            found.append((start, pos + 1, payload))
            return found
        for start in range(n):
            frontier: list[tuple[dict[object, Any], int]] = [(root, start)]
            while frontier:
                grown = []
                for node, pos in frontier:
                    if pos >= n:
                        continue
                    for token, width in lattice[pos]:
                        child = node.get(token)
                        if child is None:
                            continue
                        end = pos + width
                        payloads = child.get(None)
                        if payloads:
                            for payload in payloads:
                                found.append((start, end, payload))
                        grown.append((child, end))
                frontier = grown
        return found

    def _chain(self, segments: list[Match[_Segment]]) -> Iterator[Match[T]]:
        by_pattern: dict[int, list[list[Match[_Segment]]]] = {}
        for seg in segments:
            count = self._gapped[seg.payload.pattern][0]
            slots = by_pattern.setdefault(seg.payload.pattern, [[] for _ in range(count)])
            slots[seg.payload.index].append(seg)
        for pattern, slots in by_pattern.items():
            if not all(slots):
                continue
            payload = self._gapped[pattern][1]
            for first in slots[0]:
                end = first.end
                for later in slots[1:]:
                    nxt = [s for s in later if end <= s.start <= end + MAX_GAP]
                    if not nxt:
                        break
                    end = min(nxt, key=lambda s: s.start).end
                else:
                    yield Match(first.start, end, payload)
                    break


def _split_gaps(template: str) -> list[str]:
    """Split a template at top-level gaps: "a (b|c) ... d" -> ["a (b|c)", "d"]."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(template):
        ch = template[i]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and template.startswith(GAP, i):
            parts.append(template[start:i])
            i += len(GAP)
            start = i
            continue
        i += 1
    parts.append(template[start:])
    return [p.strip() for p in parts]
