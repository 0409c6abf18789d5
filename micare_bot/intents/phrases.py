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

import gc
import re
from contextlib import contextmanager
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, NamedTuple, Sequence, TypeVar, Union

from ..text import phrase_stems

T = TypeVar("T")

MAX_EXPANSIONS = 10_000
MAX_GAP = 8
GAP = "..."

Lattice = Sequence[Sequence[tuple[str, int]]]


_building = 0  # how many `building()` blocks are open (only the outermost acts)


@contextmanager
def building() -> Iterator[None]:
    """Keep the cyclic garbage collector out of an index build.

    A build makes about a million small dicts and tuples that all live on; each
    collection walks every tracked object again, so with the collector on it spent
    most of the start-up collecting nothing, and went on walking the indexes at every
    full collection afterwards (a second or so, mid-conversation). So: collect what
    garbage there is, pause the collector for the build, then freeze what exists
    (gc.freeze: moved to the permanent generation and never walked again; reference
    counting still frees it). The tries hold no reference cycles, so a dropped index is
    still freed; only a cycle frozen with it stays (the vocabulary's cached corrector
    refers back to the vocabulary), which matters only to a process that builds many
    lexicons, and then little.
    """
    global _building
    if _building:
        yield
        return
    enabled = gc.isenabled()
    gc.collect()  # nothing that is garbage already gets frozen with the index
    gc.disable()
    _building += 1
    try:
        yield
        gc.freeze()  # only a finished build: a failed one is garbage
    finally:
        _building -= 1
        if enabled:
            gc.enable()


class TemplateError(ValueError):
    """A lexicon template is malformed (raised at load time, never mid-conversation)."""


def expand(template: str) -> list[str]:
    """All plain phrases a template stands for (bench baselines, gaps inside brackets and
    stemless phrases; the index itself walks the parsed structure instead)."""
    phrases = [" ".join(p.split()) for p in _phrases(_parse(template))]
    return [p for p in dict.fromkeys(phrases) if p]


def _phrases(seq: "_Seq") -> list[str]:
    """Every phrase of a parsed sequence; a group's text is wrapped in spaces, as runs are
    whole words. `_parse` has already refused a template with too many."""
    acc = [""]
    for item in seq:
        if isinstance(item, str):
            acc = [a + item for a in acc]
            continue
        options = [phrase for option in item.options for phrase in _phrases(option)]
        if item.optional:
            options.append("")
        acc = [a + " " + o + " " for a in acc for o in options]
    return acc


class _Group(NamedTuple):
    """A bracketed choice in a parsed template: its alternatives, and whether it may be left out."""

    options: tuple["_Seq", ...]
    optional: bool


# A parsed template: literal text runs and groups, in order. Expansion wraps every group's
# text in spaces, so a run's words never join a group's: each run is whole words.
_Seq = tuple[Union[str, _Group], ...]
_LITERAL_RE = re.compile(r"[^()\[\]|]+")


def _parse(template: str) -> _Seq:
    """The template's structure, checked: brackets balance, and it makes no more than
    MAX_EXPANSIONS phrases (counted, not built)."""
    seq, _, end = _parse_seq(template, 0, template)
    if end != len(template):
        raise TemplateError(f"unbalanced bracket in template {template!r}")
    return seq


def _parse_seq(s: str, i: int, template: str) -> tuple[_Seq, int, int]:
    """One sequence up to a closing bracket or '|': (items, phrase count, index)."""
    items: list[str | _Group] = []
    count = 1
    while i < len(s) and s[i] not in ")]|":
        ch = s[i]
        if ch in "([":
            close = ")" if ch == "(" else "]"
            options: list[_Seq] = []
            n_options = 0
            i += 1
            while True:
                part, n, i = _parse_seq(s, i, template)
                options.append(part)
                n_options += n
                if i >= len(s):
                    raise TemplateError(f"unclosed {ch!r} in template {template!r}")
                if s[i] == "|":
                    i += 1
                    continue
                if s[i] != close:
                    raise TemplateError(f"mismatched bracket in template {template!r}")
                i += 1
                break
            optional = ch == "[" or (i < len(s) and s[i] == "?")
            if optional:
                n_options += 1
                if ch == "(" and i < len(s) and s[i] == "?":
                    i += 1
            items.append(_Group(tuple(options), optional))
            count *= n_options
        else:  # a run of literal characters ("?" included: only "(...)?" makes one optional)
            run = _LITERAL_RE.match(s, i)
            assert run is not None  # s[i] is no bracket or bar
            items.append(run.group())
            i = run.end()
        if count > MAX_EXPANSIONS:
            raise TemplateError(f"template {template!r} expands to too many phrases")
    return tuple(items), count, i


def template_words(template: str) -> set[str]:
    """The whitespace-separated words of all the template's phrases (raises like `expand`)."""
    words: set[str] = set()

    def visit(seq: _Seq) -> None:
        for item in seq:
            if isinstance(item, str):
                words.update(item.split())
            else:
                for option in item.options:
                    visit(option)

    visit(_parse(template))
    return words


def plain_lattice(tokens: Sequence[str]) -> list[list[tuple[str, int]]]:
    return [[(t, 1)] for t in tokens]


class Match(NamedTuple, Generic[T]):
    # a named tuple, not a frozen dataclass: a message makes dozens of these and a frozen
    # dataclass's __init__ costs three times as much
    start: int
    end: int  # exclusive, in words
    payload: T


# The trie is plain dicts and tuples, not node objects: the triage index has some 600,000
# nodes. A node maps each next token to an edge (child node or None, payloads, parts):
# the payloads of the phrases that end there and the gapped patterns' parts that end
# there, kept apart at build time so a match needs no type test. Edges are immutable
# and replaced when they change (rarely: most edges get one payload); the payload and
# parts tuples are shared by all the edges that end the same ones. A tuple is smaller
# than a node object with a dict and two lists, and a leaf needs no children dict.
_Edge = tuple[Union["_Trie", None], tuple[Any, ...], Union["_Parts", tuple[()]]]
_Trie = dict[str, _Edge]
_BARE: _Edge = (None, (), ())  # an edge nothing ends at yet

# Where a walk through the trie stands after part of a template: the node holding the edge
# last taken, that edge's token, and the length of the key so far (the root: None, None).
# Positions are kept in a dict, one per distinct key, by (id(node), token); the root has
# two keys of its own: no word yet, or words with no stem (a phrase `_key` rejects).
_Position = tuple[Union[_Trie, None], Union[str, None], int]
_AT_ROOT = "root"
_AT_ROOT_WORDS = "root, words without stems"
_START: dict[object, _Position] = {_AT_ROOT: (None, None, 0)}


# Phrases that end at one trie node, found at one span: (start, end, their payloads).
# The scan records one of these per node reached instead of one Match per payload (a
# triage node often carries a dozen payloads); consumers that only read the spans can
# skip building the Match objects altogether.
Hit = tuple[int, int, Sequence[T]]


class _Parts(NamedTuple):
    """The gapped patterns' parts that end at one trie edge. A part is an int: a pattern's
    parts are numbered consecutively, in order, and `mask` has their bits set, so the
    patterns a clause met all the parts of are found with a few integer operations. One
    object per distinct set of parts, shared by the edges that end them."""

    ids: tuple[int, ...]
    mask: int


# A gapped pattern's parts found at one span: (start, end, parts).
_SegmentHit = tuple[int, int, _Parts]
_PARTS = itemgetter(2)  # of a segment hit
_IDS = attrgetter("ids")  # of a _Parts


class PhraseIndex(Generic[T]):
    """Exact lookup of stemmed phrases (optionally with gaps) in a lattice."""

    def __init__(self, shorthand: Mapping[str, str] | None = None) -> None:
        self._trie: _Trie = {}
        self._key_count = 0  # distinct stemmed phrases (trie nodes with ends)
        # a phrase's stems are its words' stems (folding and tokens never cross a space), and
        # expanded templates repeat the same words thousands of times: stem each word once
        self._word_stems: dict[str, tuple[str, ...]] = {}
        self._gapped: list[tuple[int, T]] = []  # pattern id -> (segment count, payload)
        self._parts: list[tuple[int, ...]] = []  # pattern id -> its parts, in order
        self._pattern_of: list[int] = []  # part -> its pattern
        self._first_parts: dict[int, int] = {}  # part count -> a mask of those patterns' first parts
        self._part_groups: dict[tuple[int, ...], _Parts] = {}  # the _Parts edges share
        self._grown: dict[tuple[int, int], tuple[Any, ...]] = {}  # the payload tuples edges share
        self._most_parts = 0  # the most parts a pattern has
        self._shorthand = shorthand
        self.max_len = 0

    def add(self, template: str, payload: T) -> None:
        parts = _split_gaps(template)
        if len(parts) > 1:
            self._add_gapped(parts, payload, template)
            return
        if GAP not in template:
            reached = self._walk(template)
            if _AT_ROOT_WORDS not in reached:
                # the order of a template's keys does not matter: they share one payload
                for position in reached.values():
                    if position[0] is not None:
                        self._add_at(position, payload)
                return
        # a gap inside brackets or a phrase with no stem: expanding phrase by phrase raises
        # the error it always raised (the walk only serves valid templates)
        for phrase in expand(template):
            if GAP in phrase:
                raise TemplateError(f"a gap must not sit inside brackets in template {template!r}")
            for position in self._step(_START, self._key(phrase, template)).values():
                self._add_at(position, payload)

    def add_all(self, templates: Iterable[str], payload: T) -> None:
        for template in templates:
            self.add(template, payload)

    def _walk(self, template: str) -> dict[object, _Position]:
        """Make the trie paths of all the phrases a template expands to, and return where
        they end. The walk follows the template's structure instead of expanding it: a
        choice is walked once from every position reached so far, so phrases that share a
        beginning share its steps, and spellings that stem alike ("pain|pains") meet on one
        edge. Raises like `expand` for a malformed template."""
        return self._walk_seq(_parse(template), dict(_START))

    def _walk_seq(self, seq: _Seq, positions: dict[object, _Position]) -> dict[object, _Position]:
        for item in seq:
            if isinstance(item, str):
                words = item.split()
                if not words:
                    continue
                stems = tuple(chain.from_iterable(map(self._stems_of, words)))
                if stems:
                    positions = self._step(positions, stems)
                elif _AT_ROOT in positions:  # words, but nothing to match them by
                    positions = {(_AT_ROOT_WORDS if k == _AT_ROOT else k): v for k, v in positions.items()}
                continue
            reached: dict[object, _Position] = {}
            for option in item.options:
                reached.update(self._walk_seq(option, positions))
            if item.optional:
                reached.update(positions)
            positions = reached
        return positions

    def _step(self, positions: dict[object, _Position], stems: tuple[str, ...]) -> dict[object, _Position]:
        """Each position moved on by the stems, making the edges that are missing."""
        out: dict[object, _Position] = {}
        for node, token, depth in positions.values():
            for stem in stems:
                if node is None:
                    node = self._trie
                else:
                    child, direct, parts = node[token]  # type: ignore[index]
                    if child is None:  # a leaf grows its first child
                        child = {}
                        node[token] = (child, direct, parts)  # type: ignore[index]
                    node = child
                if stem not in node:
                    node[stem] = _BARE
                token = stem
            out[(id(node), token)] = (node, token, depth + len(stems))
        return out

    def _add_at(self, position: _Position, payload: object) -> None:
        """A phrase's payload at the edge a walk ended on (once)."""
        node, token, depth = position
        child, direct, parts = node[token]  # type: ignore[index]
        if payload not in direct:
            self._count_key(direct, parts, depth)
            # the payload tuples are shared: every edge that ends the same payloads, in the
            # same order, holds one object (a few thousand instead of one per edge: fewer
            # allocations, and a scan finds them in the cache). By identity: `direct` is
            # () or one of these, and the payload lives on in the tuple made of it.
            key = (id(direct), id(payload))
            grown = self._grown.get(key)
            if grown is None:
                grown = self._grown[key] = (*direct, payload)
            node[token] = (child, grown, parts)  # type: ignore[index]

    def _add_part_at(self, position: _Position, part: int) -> None:
        """A gapped pattern's part at the edge a walk ended on (once)."""
        node, token, depth = position
        child, direct, parts = node[token]  # type: ignore[index]
        ids = parts.ids if parts else ()
        if part not in ids:
            self._count_key(direct, parts, depth)
            grown = (*ids, part)
            group = self._part_groups.get(grown)
            if group is None:
                group = self._part_groups[grown] = _Parts(grown, sum(1 << i for i in grown))
            node[token] = (child, direct, group)  # type: ignore[index]

    def _count_key(self, direct: tuple[Any, ...], parts: tuple[Any, ...], depth: int) -> None:
        if not direct and not parts:  # the first thing to end here: a new key
            self._key_count += 1
            if depth > self.max_len:
                self.max_len = depth

    def _stems_of(self, word: str) -> tuple[str, ...]:
        stems = self._word_stems.get(word)
        if stems is None:
            stems = self._word_stems[word] = phrase_stems(word, self._shorthand)
        return stems

    def _key(self, phrase: str, template: str) -> tuple[str, ...]:
        """phrase_stems(phrase), a word at a time from the cache."""
        key = tuple(chain.from_iterable(map(self._stems_of, phrase.split())))
        if not key:
            raise TemplateError(f"template {template!r} yields an empty phrase")
        return key

    def _add_gapped(self, parts: list[str], payload: T, template: str) -> None:
        # One pattern per template: each part's expansions all point at the same segment,
        # so a common word costs one lookup, not one per expanded phrase.
        pattern = len(self._gapped)
        self._gapped.append((len(parts), payload))
        first = len(self._pattern_of)
        self._parts.append(tuple(range(first, first + len(parts))))
        self._pattern_of.extend([pattern] * len(parts))
        self._first_parts[len(parts)] = self._first_parts.get(len(parts), 0) | 1 << first
        self._most_parts = max(self._most_parts, len(parts))
        for index, part in enumerate(parts):
            reached = self._walk(part)
            if _AT_ROOT_WORDS in reached:
                for phrase in expand(part):
                    self._key(phrase, template)  # raises the empty phrase's error, as it always did
            ends = [position for position in reached.values() if position[0] is not None]
            if not ends:
                raise TemplateError(f"a gap must sit between words in template {template!r}")
            for position in ends:
                self._add_part_at(position, self._parts[pattern][index])

    def __len__(self) -> int:
        return self._key_count

    def map_payloads(self, compile_: Callable[[tuple[Any, ...]], Any]) -> None:
        """Replace the payloads of every span the trie knows by compile_(payloads), once per
        distinct payload tuple: `scan` then reports those in its hits (and `find` and
        `spans` iterate them), so a consumer can precompute what it needs of each span
        instead of reading its payloads for every message. compile_ must return a value
        that is true (a scan only reports spans whose payloads are). Gapped patterns'
        payloads are not mapped. Call it after the last `add`."""
        compiled: dict[int, Any] = {}  # by the shared payload tuple's identity (see _add_at)
        for payloads in self._grown.values():
            compiled[id(payloads)] = compile_(payloads)
        stack = [self._trie]
        while stack:
            node = stack.pop()
            for token, (child, direct, parts) in node.items():
                if direct:
                    node[token] = (child, compiled[id(direct)], parts)  # the same key: no resize
                if child is not None:
                    stack.append(child)

    def find(self, lattice: Lattice) -> list[Match[T]]:
        """Every phrase occurrence in one clause: plain phrases in the order the scan meets
        them (by start, then end), then the gapped ones."""
        hits, gapped = self.scan(lattice)
        found = [Match(start, end, payload) for start, end, payloads in hits for payload in payloads]
        found.extend(gapped)
        return found

    def find_tokens(self, tokens: Sequence[str]) -> list[Match[T]]:
        if self._trie.keys().isdisjoint(tokens):  # no phrase starts with any of them (one C-level pass)
            return []
        hits: list[Hit[T]] = []
        segments: list[_SegmentHit] = []
        met = self._scan_plain(tokens, hits, segments)
        found = [Match(start, end, payload) for start, end, payloads in hits for payload in payloads]
        if met:
            found.extend(self._chain(segments, met))
        return found

    def scan(self, lattice: Lattice, tokens: Sequence[str] | None = None) -> tuple[list[Hit[T]], list[Match[T]]]:
        """`find` before the plain phrases are unpacked: their hits grouped by span (each
        span's payloads in `find` order), and the gapped matches. `tokens`: the lattice's
        words when it has no alternatives (Message.plain), which spares reading them out."""
        hits: list[Hit[T]] = []
        segments: list[_SegmentHit] = []
        if tokens is not None:
            met = self._scan_plain(tokens, hits, segments)
        elif not lattice or max(map(len, lattice)) == 1:
            met = self._scan_plain([alts[0][0] for alts in lattice], hits, segments)
        else:
            met = self._scan(lattice, hits, segments)
        return hits, self._chain(segments, met) if met else []

    def _scan_plain(self, tokens: Sequence[str], hits: list[Hit[T]],
                    segments: list[_SegmentHit]) -> int:
        """The common case, no drug or test names: one trie walk from each start. Returns
        the gapped parts met, as a mask."""
        root = self._trie
        n = len(tokens)
        met = 0
        for start in range(n):
            edge = root.get(tokens[start])
            pos = start
            while edge is not None:
                pos += 1
                children, direct, gapped = edge
                if direct:
                    hits.append((start, pos, direct))
                if gapped:
                    segments.append((start, pos, gapped))
                    met |= gapped.mask
                if pos >= n or children is None:
                    break
                edge = children.get(tokens[pos])
        return met

    def _scan(self, lattice: Lattice, hits: list[Hit[T]], segments: list[_SegmentHit]) -> int:
        """A lattice with alternatives: from each start, grow every path through the trie.
        Returns the gapped parts met, as a mask."""
        root = self._trie
        n = len(lattice)
        met = 0
        for start in range(n):
            frontier: list[tuple[_Trie, int]] = [(root, start)]
            while frontier:
                grown = []
                for node, pos in frontier:
                    if pos >= n:
                        continue
                    for token, width in lattice[pos]:
                        edge = node.get(token)
                        if edge is None:
                            continue
                        children, direct, gapped = edge
                        end = pos + width
                        if direct:
                            hits.append((start, end, direct))
                        if gapped:
                            segments.append((start, end, gapped))
                            met |= gapped.mask
                        if children is not None:
                            grown.append((children, end))
                frontier = grown
        return met

    def _chain(self, segments: list[_SegmentHit], met: int) -> list[Match[T]]:
        """Gapped patterns whose parts all occur in order, each part at most MAX_GAP words
        after the previous one ends; one match per pattern, from its earliest first part.
        Patterns come in the order the scan first met one of their parts. `met` is the
        mask of all the parts in `segments`."""
        matches: list[Match[T]] = []
        complete = self._complete(met)
        if not complete:
            return matches
        if len(complete) > 1:  # in the order the scan first met one of their parts
            order = list(dict.fromkeys(chain.from_iterable(map(_IDS, map(_PARTS, segments)))))
            complete.sort(key=lambda pattern: min(map(order.index, self._parts[pattern])))
        for pattern in complete:
            found = [[(start, end) for start, end, parts in segments if part in parts.ids]
                     for part in self._parts[pattern]]
            for first_start, end in found[0]:
                for later in found[1:]:
                    # the nearest next part (the first found among equally near ones)
                    nxt = [hit for hit in later if end <= hit[0] <= end + MAX_GAP]
                    if not nxt:
                        break
                    end = min(nxt, key=_start)[1]
                else:
                    matches.append(Match(first_start, end, self._gapped[pattern][1]))
                    break
        return matches

    def _complete(self, met: int) -> list[int]:
        """The patterns all of whose parts are among the bits of `met`. A pattern of n parts
        numbered from b is complete when bits b .. b+n-1 are all set: `run` keeps the bits
        that start a run of set bits one longer at each step, and the first parts of the
        n-part patterns pick theirs out of it. Most clauses complete none."""
        found = 0
        run = met
        for n in range(2, self._most_parts + 1):
            run &= met >> (n - 1)
            if not run:
                break
            found |= run & self._first_parts.get(n, 0)
        patterns = []
        while found:
            low = found & -found
            patterns.append(self._pattern_of[low.bit_length() - 1])
            found ^= low
        return patterns


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
