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
from itertools import chain
from typing import Any, Generic, Iterable, Iterator, Mapping, NamedTuple, Sequence, TypeVar

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


class Match(NamedTuple, Generic[T]):
    # a named tuple, not a frozen dataclass: a message makes dozens of these and a frozen
    # dataclass's __init__ costs three times as much
    start: int
    end: int  # exclusive, in words
    payload: T


@dataclass(frozen=True)
class _Segment:
    pattern: int
    index: int


class _Node:
    """A trie node: the next tokens, and what ends here. The phrases' payloads and the
    gapped patterns' parts are kept apart at build time, so a match needs no type test."""

    __slots__ = ("children", "ends")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.ends: tuple[list[Any], list[tuple[int, int]]] | None = None  # (payloads, parts)


# Phrases that end at one trie node, found at one span: (start, end, their payloads).
# The scan records one of these per node reached instead of one Match per payload (a
# triage node often carries a dozen payloads); consumers that only read the spans can
# skip building the Match objects altogether.
Hit = tuple[int, int, Sequence[T]]
# A gapped pattern's parts found at one span: (start, end, [(pattern, index), ...]).
_SegmentHit = tuple[int, int, Sequence[tuple[int, int]]]


class PhraseIndex(Generic[T]):
    """Exact lookup of stemmed phrases (optionally with gaps) in a lattice."""

    def __init__(self, shorthand: Mapping[str, str] | None = None) -> None:
        self._table: dict[tuple[str, ...], list[object]] = {}
        self._trie = _Node()
        self._gapped: list[tuple[int, T]] = []  # pattern id -> (segment count, payload)
        self._parts: list[tuple[tuple[int, int], ...]] = []  # pattern id -> its (pattern, index) parts
        self._part_sets: list[frozenset[tuple[int, int]]] = []  # the same, for one C-level subset test
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
            child = node.children.get(token)
            if child is None:
                child = node.children[token] = _Node()
            node = child
        if node.ends is None:
            node.ends = ([], [])
        direct, segments = node.ends
        if isinstance(payload, _Segment):
            segments.append((payload.pattern, payload.index))
        else:
            direct.append(payload)
        self.max_len = max(self.max_len, len(key))

    def _add_gapped(self, parts: list[str], payload: T, template: str) -> None:
        # One pattern per template: each part's expansions all point at the same segment,
        # so a common word costs one lookup, not one per expanded phrase.
        pattern = len(self._gapped)
        self._gapped.append((len(parts), payload))
        self._parts.append(tuple((pattern, index) for index in range(len(parts))))
        self._part_sets.append(frozenset(self._parts[-1]))
        for index, part in enumerate(parts):
            phrases = expand(part)
            if not phrases:
                raise TemplateError(f"a gap must sit between words in template {template!r}")
            for phrase in phrases:
                self._add_key(self._key(phrase, template), _Segment(pattern, index))

    def __len__(self) -> int:
        return len(self._table)

    def find(self, lattice: Lattice) -> list[Match[T]]:
        """Every phrase occurrence in one clause: plain phrases in the order the scan meets
        them (by start, then end), then the gapped ones."""
        hits, gapped = self.scan(lattice)
        found = [Match(start, end, payload) for start, end, payloads in hits for payload in payloads]
        found.extend(gapped)
        return found

    def find_tokens(self, tokens: Sequence[str]) -> list[Match[T]]:
        hits: list[Hit[T]] = []
        segments: list[_SegmentHit] = []
        self._scan_plain(tokens, hits, segments)
        found = [Match(start, end, payload) for start, end, payloads in hits for payload in payloads]
        if segments:
            found.extend(self._chain(segments))
        return found

    def scan(self, lattice: Lattice) -> tuple[list[Hit[T]], list[Match[T]]]:
        """`find` before the plain phrases are unpacked: their hits grouped by span (each
        span's payloads in `find` order), and the gapped matches."""
        hits: list[Hit[T]] = []
        segments: list[_SegmentHit] = []
        if not lattice or max(map(len, lattice)) == 1:
            self._scan_plain([alts[0][0] for alts in lattice], hits, segments)
        else:
            self._scan(lattice, hits, segments)
        return hits, list(self._chain(segments)) if segments else []

    def _scan_plain(self, tokens: Sequence[str], hits: list[Hit[T]],
                    segments: list[_SegmentHit]) -> None:
        """The common case, no drug or test names: one trie walk from each start."""
        root = self._trie.children
        n = len(tokens)
        for start in range(n):
            node = root.get(tokens[start])
            pos = start
            while node is not None:
                pos += 1
                ends = node.ends
                if ends is not None:
                    direct, gapped = ends
                    if direct:
                        hits.append((start, pos, direct))
                    if gapped:
                        segments.append((start, pos, gapped))
                if pos >= n:
                    break
                node = node.children.get(tokens[pos])

    def _scan(self, lattice: Lattice, hits: list[Hit[T]], segments: list[_SegmentHit]) -> None:
        """A lattice with alternatives: from each start, grow every path through the trie."""
        root = self._trie
        n = len(lattice)
        for start in range(n):
            frontier: list[tuple[_Node, int]] = [(root, start)]
            while frontier:
                grown = []
                for node, pos in frontier:
                    if pos >= n:
                        continue
                    for token, width in lattice[pos]:
                        child = node.children.get(token)
                        if child is None:
                            continue
                        end = pos + width
                        ends = child.ends
                        if ends is not None:
                            direct, gapped = ends
                            if direct:
                                hits.append((start, end, direct))
                            if gapped:
                                segments.append((start, end, gapped))
                        grown.append((child, end))
                frontier = grown

    def _chain(self, segments: list[_SegmentHit]) -> Iterator[Match[T]]:
        """Gapped patterns whose parts all occur in order, each part at most MAX_GAP words
        after the previous one ends; one match per pattern, from its earliest first part.
        Patterns come in the order the scan first met one of their parts."""
        # the parts met, in the order first met (a dict as an ordered set, built in C)
        met = dict.fromkeys(chain.from_iterable(parts for _, _, parts in segments)).keys()
        tried: set[int] = set()
        for pattern, _ in met:
            if pattern in tried:
                continue
            tried.add(pattern)
            # most parts are common words whose other parts are absent
            if not met >= self._part_sets[pattern]:
                continue
            found = [[(start, end) for start, end, parts in segments if part in parts]
                     for part in self._parts[pattern]]
            for first_start, end in found[0]:
                for later in found[1:]:
                    # the nearest next part (the first found among equally near ones)
                    nxt = [hit for hit in later if end <= hit[0] <= end + MAX_GAP]
                    if not nxt:
                        break
                    end = min(nxt, key=_start)[1]
                else:
                    yield Match(first_start, end, self._gapped[pattern][1])
                    break


def spans(hits: Sequence[Hit[T]], gapped: Sequence[Match[T]]) -> Iterator[tuple[int, int, T]]:
    """(start, end, payload) of every match `scan` found, in `find` order, without
    building a Match per payload."""
    for start, end, payloads in hits:
        for payload in payloads:
            yield start, end, payload
    yield from gapped


def _start(hit: tuple[int, int]) -> int:
    return hit[0]


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
