"""Red-flag triage (SPEC §3): explicit, reviewable rules with scoping.

Rules and cues live in ``data/triage.yaml``. This module compiles them once
and evaluates a message: find rule phrases per clause, drop the mentions that
are negated, historical, hypothetical, educational, about a report or
resolved, and return the most urgent level that still fires.

Cues, features and rule phrases share one phrase index, so a clause is
scanned once. Rules are tried from the most urgent level down and the first
that fires decides. Readings in numbers (temperature, glucose, pulse, blood
pressure, an infant's age, a duration, a pill count) are computed here and
scoped by their clause like any phrase. Everything is pure and synchronous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

from ..models import TriageResult
from ..text import raw_tokens, split_clauses, split_sentences
from .lexicon import Lexicon, LexiconError, Message
from .phrases import PhraseIndex, TemplateError, building

SCOPES = ("negation", "history", "educational", "conditional", "records", "resolved")
CLAUSE_SCOPES = ("history", "records")  # cue must sit in the same clause
COMPUTED_FEATURES = (
    "infant_under_3_months", "fever_100_4", "fever_102", "fever_103", "days_3_plus",
    "glucose_300", "glucose_under_55", "pill_count_10", "bp_180", "pulse_abnormal",
    "gestation_weeks", "infant_under_6_months", "bp_160", "spo2_low", "fever_101",
    "bp_140",
)


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    scopes: frozenset[str]
    window: int = 0
    groups: int = 0  # number of `near` groups
    all_features: tuple[str, ...] = ()
    has_phrases: bool = False
    has_requires: bool = False
    has_unless_message: bool = False


# Spans are plain (start, end) tuples and hits plain tuples: a message has dozens of them,
# and a Match would cost a Python-level __new__ each.
_Span = tuple[int, int]
_Cues = dict[str, list[_Span]]  # one clause's cues: kind -> spans, in scan order
_NAME = itemgetter(2)  # of a (clause, start, feature) occurrence


class _Kinds(NamedTuple):
    """The payloads of the phrases that end at one trie edge, sorted by what they are for
    (each kind in payload order). The index holds these in place of the payload tuples
    (made once per distinct tuple when the rules are compiled), so a message's scan files
    a span's payloads a kind at a time instead of testing the tag of each one: a common
    word ends a dozen rules' `requires_any` phrases."""

    cues: tuple[str, ...]
    voids: tuple[str, ...]  # features whose mention here is no mention (feature_except)
    features: tuple[str, ...]
    phrases: tuple[int, ...]  # rules whose phrase this is
    groups: tuple[tuple[int, int], ...]  # (rule, near group)
    requires: frozenset[int]  # rules, for a set update
    unless: frozenset[int]
    excepts: tuple[int, ...]
    unless_message: frozenset[int]
    # the lexicon's intent phrases (IntentPhrase) that end here: the intent classifier reads
    # them from the same scan (see Triage.scan), so a clause is walked once for both
    intents: tuple[Any, ...]


# What one scan of a message found, per clause: (start, end, kinds) of every span that ends
# a phrase, plain ones in scan order and then the gapped ones.
ClauseSpans = list[list[tuple[int, int, _Kinds]]]


def _sort_kinds(payloads: Iterable[tuple[Any, ...]]) -> _Kinds:
    sorted_: dict[str, list[Any]] = {k: [] for k in _Kinds._fields}
    for payload in payloads:
        tag = payload[0]
        if tag == "c":
            sorted_["cues"].append(payload[1])
        elif tag == "x":
            sorted_["voids"].append(payload[1])
        elif tag == "f":
            sorted_["features"].append(payload[1])
        elif tag == "i":
            sorted_["intents"].append(payload[1])
        else:  # a rule's: ("r", rule, kind, group)
            kind = payload[2]
            if kind == "phrase":
                sorted_["phrases"].append(payload[1])
            elif kind == "group":
                sorted_["groups"].append((payload[1], payload[3]))
            elif kind == "except":
                sorted_["excepts"].append(payload[1])
            else:  # requires, unless, unless_message
                sorted_[kind].append(payload[1])
    return _Kinds(*(frozenset(v) if k in ("requires", "unless", "unless_message") else tuple(v)
                    for k, v in sorted_.items()))


class _Found:
    """Everything a message's scan found, filed by what it is for."""

    __slots__ = ("cues", "features", "voided", "phrases", "groups", "required", "unless", "excepted", "vetoed")

    def __init__(self) -> None:
        self.cues: list[_Cues] = []  # per clause
        self.features: list[tuple[int, int, int, str]] = []  # (clause, start, end, feature)
        self.voided: dict[tuple[int, str], list[_Span]] = {}  # (clause, feature) -> feature_except spans
        self.phrases: dict[int, list[tuple[int, int, int]]] = {}  # rule -> (clause, start, end)
        self.groups: dict[int, list[tuple[int, int, _Span]]] = {}  # rule -> (clause, group, span)
        self.required: set[int] = set()  # rules one of whose requires_any phrases occurs
        self.unless: dict[int, set[int]] = {}  # clause -> rules one of whose unless phrases is in it
        self.excepted: dict[int, dict[int, list[_Span]]] = {}  # rule -> clause -> except spans
        self.vetoed: set[int] = set()  # rules one of whose unless_message phrases occurs


class Triage:
    """Compiled red-flag rules."""

    def __init__(self, data: Mapping[str, Any], lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        try:
            with building():
                self._compile(data, lexicon)
        except TemplateError as exc:
            raise LexiconError(f"triage.yaml: {exc}") from exc

    def _compile(self, data: Mapping[str, Any], lexicon: Lexicon) -> None:
        self.priority: tuple[str, ...] = tuple(data.get("priority") or ())
        cues = data.get("cues") or {}
        self.negation_window = int(cues.get("negation_window", 5))
        # cues, features and rule parts share one index: one scan per clause
        self.index: PhraseIndex[Any] = PhraseIndex(lexicon.shorthand)
        for kind in ("negation", "pseudo_negation", "present", *SCOPES[1:]):
            templates = cues.get(kind)
            if not isinstance(templates, list):
                raise LexiconError(f"triage.yaml: cues.{kind} must be a list")
            self.index.add_all(templates, ("c", kind))
        # a question put to the patient and answered no: "the form asked if I'd thought
        # about killing myself. I said no" (optional; see triage.yaml)
        # `answered_no_alone`: a denial that answers only when it is the whole clause ("I
        # haven't, never have"): "I have not told anyone" answers nothing
        for kind in ("asked", "answered_no", "answered_no_alone", "answer_retracted"):
            templates = cues.get(kind) or []
            if not isinstance(templates, list):
                raise LexiconError(f"triage.yaml: cues.{kind} must be a list")
            self.index.add_all(templates, ("c", kind))

        self.feature_alias: dict[str, tuple[str, ...]] = {}
        features = data.get("features") or {}
        for name, templates in features.items():
            refs = tuple(t[1:] for t in templates if t.startswith("@"))
            for ref in refs:
                if ref not in features and ref not in COMPUTED_FEATURES:
                    raise LexiconError(f"triage.yaml: feature {name} names unknown feature {ref}")
            self.feature_alias[name] = refs
            self.index.add_all([t for t in templates if not t.startswith("@")], ("f", name))
        # `feature_except`: a feature's mention inside one of these is no mention ("blood" in
        # "pregnancy blood test" is no bleeding); the clause's other mentions still count
        for name, templates in (data.get("feature_except") or {}).items():
            if name not in features:
                raise LexiconError(f"triage.yaml: feature_except names unknown feature {name}")
            self.index.add_all(templates, ("x", name))

        # aliases in dependency order, so one pass resolves chains of references
        self.alias_order: list[tuple[str, tuple[str, ...]]] = []
        done: set[str] = set()

        def visit(name: str, path: tuple[str, ...] = ()) -> None:
            if name in done or name not in self.feature_alias:
                return
            if name in path:
                raise LexiconError(f"triage.yaml: feature {name} refers to itself")
            for ref in self.feature_alias[name]:
                visit(ref, path + (name,))
            done.add(name)
            if self.feature_alias[name]:
                self.alias_order.append((name, self.feature_alias[name]))

        for name in self.feature_alias:
            visit(name)
        # ... and the same as a closure: each feature and every alias it implies, directly or
        # through other aliases, so a message resolves its aliases with a few set operations
        # instead of visiting every alias (the pass above adds exactly these)
        self.implied: dict[str, frozenset[str]] = _implied(self.alias_order)
        self._implying = frozenset(self.implied)

        self.rules: list[Rule] = []
        seen: set[str] = set()
        for i, raw in enumerate(data.get("rules") or ()):
            rule = self._compile_rule(i, raw, features)
            if rule.id in seen:
                raise LexiconError(f"triage.yaml: duplicate rule id {rule.id}")
            seen.add(rule.id)
            self.rules.append(rule)
            if rule.level not in self.priority:
                raise LexiconError(f"triage.yaml: rule {rule.id} has unknown level {rule.level}")
        # evaluation order: a life in danger right now first (someone not breathing after an
        # overdose needs 911 before Poison Control or the crisis line), then the most urgent
        # level first, file order within a level
        first = data.get("danger_now") or ()
        unknown = set(first) - seen
        if unknown:
            raise LexiconError(f"triage.yaml: danger_now names unknown rules {sorted(unknown)}")
        # `taken_first`: poison rules that mean the pills are already down ("took a handful on
        # purpose an hour ago"): Poison Control and 911 come before the crisis line (SPEC §3:
        # an overdose is poison), right after the danger-now rules
        taken = data.get("taken_first") or ()
        unknown = set(taken) - seen
        if unknown:
            raise LexiconError(f"triage.yaml: taken_first names unknown rules {sorted(unknown)}")
        ids = [rule.id for rule in self.rules]
        self.order: tuple[int, ...] = tuple(sorted(
            range(len(self.rules)),
            key=lambda i: (ids[i] not in first, ids[i] not in taken, self.priority.index(self.rules[i].level), i)))
        self.rank: dict[int, int] = {i: n for n, i in enumerate(self.order)}
        # a feature rule can only fire when its first feature occurs: index rules by it, so a
        # message visits the few rules its words could fire instead of all of them
        self.by_feature: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            if rule.all_features:
                self.by_feature.setdefault(sorted(rule.all_features)[0], []).append(i)
        self._first_features = frozenset(self.by_feature)
        # the lexicon's intent phrases join the index, in the lexicon's order: a plain walk
        # serves both (the intent walk was nearly all steps the triage walk takes anyway)
        for template, phrase in lexicon.intent_phrases:
            self.index.add(template, ("i", phrase))
        # the index reports each span's payloads sorted by kind (one _Kinds per distinct
        # payload tuple, shared by every edge with that tuple); gapped patterns report their
        # payloads as they are, sorted on first use
        self.index.map_payloads(_sort_kinds)
        self._payload_kinds: dict[tuple[Any, ...], _Kinds] = {}

    def _compile_rule(self, i: int, raw: Mapping[str, Any], features: Mapping[str, Any]) -> Rule:
        rid = str(raw.get("id") or f"rule{i}")
        scopes = frozenset(raw.get("scopes") or SCOPES)
        unknown = scopes - set(SCOPES)
        if unknown:
            raise LexiconError(f"triage.yaml: rule {rid} has unknown scopes {sorted(unknown)}")
        phrases = raw.get("phrases") or []
        self.index.add_all(phrases, ("r", i, "phrase", 0))
        near = raw.get("near") or {}
        groups = near.get("groups") or []
        for g, templates in enumerate(groups):
            self.index.add_all(templates, ("r", i, "group", g))
        requires = raw.get("requires_any") or []
        self.index.add_all(requires, ("r", i, "requires", 0))
        self.index.add_all(raw.get("unless") or [], ("r", i, "unless", 0))
        # `except`: a mention inside one of these is voided, only that mention: "school is
        # killing him" is no threat, yet "... and I want to kill him" in the clause still is
        self.index.add_all(raw.get("except") or [], ("r", i, "except", 0))
        # `unless_message`: one of these anywhere in the message keeps the rule from firing
        unless_message = raw.get("unless_message") or []
        self.index.add_all(unless_message, ("r", i, "unless_message", 0))
        all_features = tuple(raw.get("all") or ())
        for name in all_features:
            if name not in features and name not in COMPUTED_FEATURES:
                raise LexiconError(f"triage.yaml: rule {rid} names unknown feature {name}")
        if not (phrases or groups or all_features):
            raise LexiconError(f"triage.yaml: rule {rid} has nothing to match")
        return Rule(
            id=rid,
            level=str(raw.get("level")),
            scopes=scopes,
            window=int(near.get("window", 6)),
            groups=len(groups),
            all_features=all_features,
            has_phrases=bool(phrases),
            has_requires=bool(requires),
            has_unless_message=bool(unless_message),
        )

    # -- evaluation ---------------------------------------------------------

    def assess(self, message: Message, spans: ClauseSpans | None = None) -> TriageResult:
        """The most urgent level any unscoped red flag in the message calls for. `spans`:
        the message's `scan`, when the caller has it already."""
        found = self._file(message, self.scan(message) if spans is None else spans)
        feature_hits: list[tuple[int, int, str]] = [
            (c, start, name) for c, start, end, name in found.features
            if not found.voided or not _inside((start, end), found.voided.get((c, name), ()))]
        clause_cues = found.cues
        sentence_of = message.analysed.sentence_of
        sentence_cues: dict[int, set[str]] = {}
        last_resolved: dict[int, int] = {}  # sentence -> the last clause with a resolved cue
        for c, cues in enumerate(clause_cues):
            sentence_cues.setdefault(sentence_of[c], set()).update(cues)
            if "resolved" in cues:
                last_resolved[sentence_of[c]] = c
        listed = self._list_negated(message, clause_cues)
        answered = self._answered_no(message, clause_cues)

        def live(c: int, start: int, scopes: frozenset[str]) -> bool:
            cues = clause_cues[c]
            if "negation" in scopes and (c in listed or ("negation" in cues and self._negated(cues, start))):
                return False
            if "negation" in scopes and c in answered and answered[c][0] <= start < answered[c][1]:
                return False
            for scope in CLAUSE_SCOPES:
                if scope in scopes and scope in cues:
                    if _present_outside(cues):  # "the chest pain came back worse" is now, not a report
                        continue
                    return False
            sentence = sentence_of[c]
            in_sentence = sentence_cues[sentence]
            for scope in ("educational", "conditional"):
                if scope in scopes and scope in in_sentence:
                    return False
            # "much better after covid, but now crushing chest pain": what is told after the
            # last "better" or "went away" of a sentence is no longer what got better
            if "resolved" in scopes and "resolved" in in_sentence and c <= last_resolved[sentence]:
                return False
            return True

        # features are scoped like the rule that uses them: a crisis rule ignores "last week"
        features_by_scopes: dict[frozenset[str], set[str]] = {}
        feature_cache: dict[str, Any] = {}
        possible = self._possible_features(message, feature_hits, feature_cache)  # mentioned at all
        # a rule fires on a phrase, a `near` match or its features: a rule whose words only
        # met its requires_any, unless or except phrases cannot, and is not tried
        candidates = set(found.phrases)
        candidates.update(found.groups)
        # the rules whose first feature occurs: one set update, not one per feature
        candidates.update(*map(self.by_feature.__getitem__, possible.intersection(self._first_features)))
        for i in sorted(candidates, key=self.rank.__getitem__):
            rule = self.rules[i]
            features: set[str] = set()
            if rule.all_features:
                if i not in found.phrases and i not in found.groups and not possible.issuperset(rule.all_features):
                    continue
                features = features_by_scopes.get(rule.scopes)  # type: ignore[assignment]
                if features is None:
                    features = self._features(message, feature_hits, live, rule.scopes, feature_cache)
                    features_by_scopes[rule.scopes] = features
            if self._rule_fires(i, rule, found, features, live):
                return TriageResult(rule.level, rule.id)
        return TriageResult("routine", None)

    def scan(self, message: Message) -> ClauseSpans:
        """Every span of the message's clauses that ends a cue, feature, rule or intent
        phrase, with what it ends sorted by kind (per clause: in scan order, by start and
        then end; gapped ones after the rest)."""
        out: ClauseSpans = []
        for lattice, tokens in zip(message.lattices, message.plain_tokens()):
            spans: list[tuple[int, int, _Kinds]]
            spans, gapped = self.index.scan(lattice, tokens)  # type: ignore[assignment]  # mapped: _Kinds
            if gapped:  # after the clause's plain phrases, as the scan reports them
                spans.extend((start, end, self._kinds_of(payload)) for start, end, payload in gapped)
            out.append(spans)
        return out

    def _file(self, message: Message, clause_spans: ClauseSpans) -> _Found:
        """Every cue, feature and rule phrase the scan found, filed by kind (each kind's in
        scan order)."""
        found = _Found()
        features, required, vetoed = found.features, found.required, found.vetoed
        for c, (lattice, spans) in enumerate(zip(message.lattices, clause_spans)):
            cues: _Cues = {}
            found.cues.append(cues)
            for start, end, kinds in spans:
                k_cues, k_voids, k_features, k_phrases, k_groups, k_requires, k_unless, k_excepts, k_vetoes, _ = kinds
                for name in k_features:
                    features.append((c, start, end, name))
                if k_requires:
                    required.update(k_requires)
                if k_unless:
                    found.unless.setdefault(c, set()).update(k_unless)
                for rule, g in k_groups:
                    found.groups.setdefault(rule, []).append((c, g, (start, end)))
                for rule in k_phrases:
                    found.phrases.setdefault(rule, []).append((c, start, end))
                for kind in k_cues:
                    cues.setdefault(kind, []).append((start, end))
                if k_vetoes:
                    vetoed.update(k_vetoes)
                for rule in k_excepts:
                    found.excepted.setdefault(rule, {}).setdefault(c, []).append((start, end))
                for name in k_voids:
                    found.voided.setdefault((c, name), []).append((start, end))
            alone = cues.pop("answered_no_alone", None)
            if alone:
                whole = [span for span in alone if span == (0, len(lattice))]
                if whole:
                    cues.setdefault("answered_no", []).extend(whole)
        return found

    def _kinds_of(self, payload: tuple[Any, ...]) -> _Kinds:
        """A gapped pattern's payload sorted by kind."""
        kinds = self._payload_kinds.get(payload)
        if kinds is None:
            kinds = self._payload_kinds[payload] = _sort_kinds((payload,))
        return kinds

    def _rule_fires(self, i: int, rule: Rule, found: _Found,
                    features: set[str], live) -> bool:  # type: ignore[no-untyped-def]
        if rule.has_requires and i not in found.required:
            return False
        if rule.has_unless_message and i in found.vetoed:
            return False
        unless = found.unless
        excepted = found.excepted.get(i, {})
        if rule.has_phrases:
            for c, start, end in found.phrases.get(i, ()):
                if i not in unless.get(c, ()) and not _inside((start, end), excepted.get(c, ())) \
                        and live(c, start, rule.scopes):
                    return True
        if rule.groups:
            by_clause: dict[int, dict[int, list[_Span]]] = {}
            for c, g, span in found.groups.get(i, ()):
                if i not in unless.get(c, ()) and not _inside(span, excepted.get(c, ())):
                    by_clause.setdefault(c, {}).setdefault(g, []).append(span)
            for c, groups in by_clause.items():
                if len(groups) == rule.groups and self._near(c, groups, rule, live):
                    return True
        if rule.all_features:
            return all(name in features for name in rule.all_features)
        return False

    def _near(self, c: int, groups: dict[int, list[_Span]], rule: Rule, live) -> bool:  # type: ignore[no-untyped-def]
        """Every group within `window` words of the first group's mention, and live."""
        for anchor in groups[0]:
            span = anchor
            for g in range(1, rule.groups):
                close = [m for m in groups[g] if _gap(span, m) <= rule.window]
                if not close:
                    break
                best = min(close, key=lambda m: _gap(span, m))
                span = (min(span[0], best[0]), max(span[1], best[1]))
            else:
                if live(c, span[0], rule.scopes):
                    return True
        return False

    def _features(self, message: Message, feature_hits: list[tuple[int, int, str]], live,  # type: ignore[no-untyped-def]
                  scopes: frozenset[str], cache: dict[str, Any]) -> set[str]:
        """Features live under the given scopes; the scope-free work is done once per message."""
        if "found" not in cache:
            cache["found"], cache["occurrences"] = self._feature_occurrences(message, feature_hits)
        found: set[str] = set(cache["found"])
        for c, start, name in cache["occurrences"]:
            if name not in found and live(c, start, scopes):
                found.add(name)
        self._add_aliases(found)  # "@fever" style references
        return found

    def _possible_features(self, message: Message, feature_hits: list[tuple[int, int, str]],
                           cache: dict[str, Any]) -> set[str]:
        if "found" not in cache:
            cache["found"], cache["occurrences"] = self._feature_occurrences(message, feature_hits)
        possible = set(cache["found"])
        possible.update(map(_NAME, cache["occurrences"]))
        self._add_aliases(possible)
        return possible

    def _add_aliases(self, features: set[str]) -> None:
        """Add every alias the features imply (what a pass over `alias_order` adds)."""
        implying = features.intersection(self._implying)
        if implying:
            features.update(*map(self.implied.__getitem__, implying))

    def _feature_occurrences(self, message: Message, feature_hits: list[tuple[int, int, str]]
                             ) -> tuple[set[str], list[tuple[int, int, str]]]:
        """Features that need no scoping, and (clause, start, name) of those that do."""
        folded = message.analysed.folded
        found: set[str] = set()
        occurrences: list[tuple[int, int, str]] = []
        has_units = _UNITS_RE.search(folded) is not None
        has_digits = _DIGIT_RE.search(folded) is not None
        age = _infant_age_days(folded) if has_units else None  # the costliest pattern: read once
        if _newborn(folded) or (age is not None and age < 90):
            found.add("infant_under_3_months")
        if has_units:
            if age is not None and age < 180:
                found.add("infant_under_6_months")
            if has_digits and _gestation_weeks(folded):  # a week count is digits
                found.add("gestation_weeks")
        if (has_units or "day" in folded or "since" in folded) and _days_3_plus(folded):
            found.add("days_3_plus")
        if has_digits:
            # readings are scoped like phrases: "fever of 104 last month, all better" is history
            clauses = message.analysed.clause_texts or _clause_texts(folded)  # kept by analyse
            scoped = len(clauses) == len(message.lattices)
            has_context = _fever_context(folded)
            for c, text in enumerate(clauses):
                if _DIGIT_RE.search(text) is None:
                    continue  # every reading is a number
                for name in _reading_features(text, has_context):
                    if scoped:
                        occurrences.append((c, 0, name))
                    else:
                        found.add(name)
            if _spo2_low(folded):
                found.add("spo2_low")
            for c, start in _pill_counts(message.lattices):
                occurrences.append((c, start, "pill_count_10"))
        occurrences.extend(feature_hits)
        return found, occurrences

    def _list_negated(self, message: Message, clause_cues: list[_Cues]) -> set[int]:
        """Clauses that only continue a negated list: "no fever, chills or cough".

        A comma splits the list into clauses; a short clause that closes it
        with "or"/"nor" (or is a bare item between two such clauses) takes the
        negation of the clause the list started in.
        """
        clauses = message.analysed.clauses
        sentence_of = message.analysed.sentence_of
        listed: set[int] = set()
        # "any chest pain? no." - a bare "no" answers (and negates) the sentence before it,
        # unless it is taken back after ("asked if I want to die. No. but lately I do")
        for c in range(1, len(clauses)):
            if sentence_of[c] != sentence_of[c - 1] and set(clauses[c]) <= _BARE_NO \
                    and (c + 1 == len(clauses) or sentence_of[c + 1] != sentence_of[c]) \
                    and not any("answer_retracted" in clause_cues[k] for k in range(c + 1, len(clauses))):
                listed.update(k for k in range(c) if sentence_of[k] == sentence_of[c - 1])
        for c in range(1, len(clauses)):
            if sentence_of[c] != sentence_of[c - 1] or len(clauses[c]) > 6:
                continue
            prev = clause_cues[c - 1]
            prev_negated = (c - 1) in listed or (bool(prev.get("negation")) and not prev.get("pseudo_negation"))
            if not prev_negated:
                continue
            words = clauses[c]
            if "or" in words or "nor" in words:
                listed.add(c)
            elif c + 1 < len(clauses) and sentence_of[c + 1] == sentence_of[c] and len(clauses[c + 1]) <= 6 \
                    and ("or" in clauses[c + 1] or "nor" in clauses[c + 1]):
                listed.add(c)  # the middle item of "no a, b, or c"
        return listed

    def _answered_no(self, message: Message, clause_cues: list[_Cues]) -> dict[int, tuple[int, int]]:
        """Clauses asked about and answered no, with the word span the answer covers.

        "The PHQ-9 asked if I'd thought about killing myself. I said no": what lies after a
        question cue ("asked if I had", "asked whether she's thought") and before its answer
        ("I said no", "and she answered no") is negated. The question may sit in the
        sentence before the answer, or earlier in the answer's own sentence. An answer taken
        back anywhere after it ("I said no but I lied", "the real answer is yes") voids it.
        """
        if not any("answered_no" in cues for cues in clause_cues):
            return {}
        sentence_of = message.analysed.sentence_of
        clauses = message.analysed.clauses
        covered: dict[int, tuple[int, int]] = {}
        for a, cues in enumerate(clause_cues):
            for answer_start, _ in cues.get("answered_no", ()):
                if any("answer_retracted" in clause_cues[k] for k in range(a, len(clause_cues))):
                    continue
                # the question: in this clause before the answer, an earlier clause of the
                # sentence, or (when the answer opens its sentence) the sentence before
                opens = a == 0 or sentence_of[a - 1] != sentence_of[a]
                lo = a
                while lo > 0 and (sentence_of[lo - 1] == sentence_of[a] or
                                  (opens and sentence_of[lo - 1] == sentence_of[a] - 1)):
                    lo -= 1
                asked_at: tuple[int, int] | None = None
                for q in range(lo, a + 1):
                    starts = [start for start, end in clause_cues[q].get("asked", ())
                              if q < a or end <= answer_start]
                    if starts:
                        asked_at = (q, min(starts))
                        break
                if asked_at is None:
                    continue
                q, from_word = asked_at
                for k in range(q, a + 1):
                    start = from_word if k == q else 0
                    end = answer_start if k == a else len(clauses[k])
                    if start < end:
                        covered[k] = (start, end)
        return covered

    def _negated(self, cues: _Cues, start: int) -> bool:
        pseudo = cues.get("pseudo_negation", [])
        for cue_start, cue_end in cues.get("negation", []):
            if cue_end > start or start - cue_end > self.negation_window:
                continue
            if any(p_start <= cue_start < p_end for p_start, p_end in pseudo):
                continue
            return True
        return False


_BARE_NO = frozenset({"no", "nope", "nah", "none", "negative", "not", "never"})


def _present_outside(cues: Mapping[str, list[_Span]]) -> bool:
    """A present cue that is not part of a history or records cue ("my dad just had
    a heart attack last month" is one history cue; "just had" inside it is no present)."""
    present = cues.get("present")
    if not present:
        return False
    spans = [span for scope in CLAUSE_SCOPES for span in cues.get(scope, ())]
    return any(not _inside(p, spans) for p in present)


def _implied(alias_order: list[tuple[str, tuple[str, ...]]]) -> dict[str, frozenset[str]]:
    """Each feature some alias refers to, and every alias reachable from it through the
    references (an alias of an alias counts)."""
    referrers: dict[str, list[str]] = {}
    for name, refs in alias_order:
        for ref in refs:
            referrers.setdefault(ref, []).append(name)
    implied: dict[str, frozenset[str]] = {}
    for feature in referrers:
        reached: set[str] = set()
        todo = [feature]
        while todo:
            for name in referrers.get(todo.pop(), ()):
                if name not in reached:
                    reached.add(name)
                    todo.append(name)
        implied[feature] = frozenset(reached)
    return implied


def _inside(span: _Span, covers: Iterable[_Span]) -> bool:
    """Whether a span lies within one of `covers` (an `except` match, a history cue)."""
    return any(a <= span[0] and span[1] <= b for a, b in covers)


def _gap(a: _Span, b: _Span) -> int:
    """Words strictly between two spans (0 when adjacent or overlapping)."""
    if b[0] >= a[1]:
        return b[0] - a[1]
    if a[0] >= b[1]:
        return a[0] - b[1]
    return 0


# -- computed features: ages, temperatures and durations ---------------------

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a": 1, "an": 1, "few": 3, "several": 3,
    "couple": 2, "a couple": 2, "a few": 3,
}
_NUM = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_INFANT_RE = re.compile(
    rf"\b{_NUM}[\s-]*(day|days|week|weeks|wk|wks|month|months|mo|mos)[\s-]*old\b"
    rf"|\b(?:baby|babby|babey|bby|babe|infant|newborn|son|daughter|she|he)\s+(?:is\s+|was\s+|turned\s+|of\s+|aged\s+|age\s+)?(?:only\s+|just\s+)?{_NUM}\s*(day|days|week|weeks|wk|wks|month|months|mo|mos)\b(?!\s+ago)"
    rf"|\b{_NUM}[\s-]*(day|days|week|weeks|wk|wks)[\s-]*(?:old\s+)?(?:baby|infant|newborn|son|daughter|boy|girl)\b"
    rf"|\(\s*{_NUM}\s*(day|days|week|weeks|wk|wks)\s*(?:old)?\s*\)"
    # "my 2 mo has a fever": a possessive and an age in weeks or months is a baby
    rf"|\b(?:my|our|his|her|the)\s+{_NUM}\s*(day|days|week|weeks|wk|wks|month|months|mo|mos)\b"
    # ... not the visit named for an age: "her 2 month shots", "the 2 month checkup"
    r"(?!\s+(?:shots?|vaccines?|vaccinations?|immunizations?|jabs?|check\s*ups?|visits?|appointments?|appts?|well))"
    r"(?!\s+(?:ago|of|off|leave|vacation|notice|supply|worth|in|at|away|later|post|postpartum|out|along|pregnant))"
)
_UNITS_RE = re.compile(r"\b(?:days?|nights?|weeks?|wks?|months?|mos?|old|third|fourth|fifth|sixth|seventh|3rd|4th|5th|6th|7th)\b")
_DIGIT_RE = re.compile(r"\d")
_NEWBORN_RE = re.compile(r"\b(newborn|neonate|new born)\b")
_TEMP_RE = re.compile(r"(?<![\d/.])(\d{2,3}(?:\.\d)?)\s*(°|degrees|deg|f\b|c\b|fahrenheit|celsius)?")
_FEVER_CONTEXT_RE = re.compile(
    r"\b(fever|temp|temperature|thermometer|degrees|rectal|rectally|orally|forehead|armpit|measured|reading|read|running|spiked|spiking|hot)\b|°"
    # clinical shorthand: "T 101-102", "Tmax 103"
    r"|\bt(?:max| max)?\s+(?=(?:9[5-9]|10\d)\b)"
)
# Substrings every match of a pattern contains: a few `in` tests are much cheaper than a
# regex pass over the whole message, and most messages have none of them.
_FEVER_CONTEXT_NEEDLES = ("fever", "temp", "thermometer", "degree", "rectal", "orally", "forehead", "armpit",
                          "measured", "read", "running", "spik", "hot", "°", "t 1", "t 9", "tmax", "t max")
_NEWBORN_NEEDLES = ("newborn", "neonate", "new born")
_SPO2_NEEDLES = ("ox", "o2", "sat", "reader", "finger")  # oxygen, ox, oximeter; o2, spo2; sat(s), saturation(s)


def _has(text: str, needles: tuple[str, ...]) -> bool:
    return any(map(text.__contains__, needles))


def _fever_context(folded: str) -> bool:
    return _has(folded, _FEVER_CONTEXT_NEEDLES) and _FEVER_CONTEXT_RE.search(folded) is not None


def _newborn(folded: str) -> bool:
    return _has(folded, _NEWBORN_NEEDLES) and _NEWBORN_RE.search(folded) is not None
_DAYS_RE = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|few|several|couple(?: of)?)\s+(?:straight\s+|whole\s+|full\s+)?(days?|nights?|weeks?)\b"
    r"|\b(a|one|over a|more than a|almost a|nearly a|about a)\s+(week|whole week)\b"
    r"|\b(third|3rd|fourth|4th|fifth|5th|sixth|6th|seventh|7th)\s+(day|night)\b"
    r"|\bsince\s+last\s+(week|weekend)\b"
    r"|\b(all|the whole|this whole|this entire|the entire|all this) (week)\b|\bfor (days)\b"
    r"|\b(day|night)\s+(3|4|5|6|7|8|9|10|three|four|five|six|seven)\b"
)


def _num(token: str) -> float | None:
    token = token.strip().lower()
    if token in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[token])
    if token.startswith("couple"):
        return 2.0
    try:
        return float(token)
    except ValueError:
        return None


def _clause_texts(folded: str) -> list[str]:
    """The folded text of each clause, in the order `analyse` numbers them."""
    return [clause for sentence in split_sentences(folded) for clause in split_clauses(sentence)
            if raw_tokens(clause)]


def computed_features(folded: str) -> Iterable[str]:
    """Features read from numbers: an infant's age, a temperature, a duration (unscoped)."""
    if _newborn(folded) or _infant(folded):
        yield "infant_under_3_months"
    age = _infant_age_days(folded)
    if age is not None and age < 180:
        yield "infant_under_6_months"
    if _spo2_low(folded):
        yield "spo2_low"
    if _gestation_weeks(folded):
        yield "gestation_weeks"
    yield from _reading_features(folded, _fever_context(folded))
    if _days_3_plus(folded):
        yield "days_3_plus"


def _reading_features(text: str, has_context: bool) -> Iterable[str]:
    """Temperature and glucose features of one clause's folded text."""
    temp = _max_temperature_f(text, has_context)
    if temp is not None and temp >= 100.4:
        yield "fever_100_4"
    if temp is not None and temp >= 101.0:
        yield "fever_101"
    if temp is not None and temp >= 102.0:
        yield "fever_102"
    if temp is not None and temp >= 103.0:
        yield "fever_103"
    readings = [(sys_, dia) for sys_, dia in ((int(m.group(1)), int(m.group(2))) for m in _BP_RE.finditer(text))
                if 70 <= sys_ <= 300 and 30 <= dia < sys_]  # plausible blood pressures, read once
    # bp_140 is high for a pregnancy (gestational hypertension), not alone
    for name, top, bottom in (("bp_180", 180, 110), ("bp_160", 160, 100), ("bp_140", 140, 90)):
        if any(sys_ >= top or dia >= bottom for sys_, dia in readings):
            yield name
    for m in _PULSE_RE.finditer(text) if _PULSE_WORDS_RE.search(text) else ():
        rate = int(m.group(1) or m.group(2))
        if 15 <= rate < 45 or 150 <= rate <= 260:
            yield "pulse_abnormal"
            break
    glucose = _glucose_values(text)
    if any(g >= 300 for g in glucose):
        yield "glucose_300"
    if any(g < 55 for g in glucose):
        yield "glucose_under_55"


# "35 wks", "I'm 10 weeks", "at 28 weeks": a pregnancy written as its week count alone.
# Not an age ("6 weeks old"), a span ("2 weeks ago", "for 3 weeks") or a postpartum count.
_GESTATION_RE = re.compile(
    r"(?:^|[.!?]\s*|\b(?:i am|im|i m|she is|shes|she s|wife is|currently|at|about|almost|nearly|only)\s+)"
    r"(\d{1,2})\s*(?:wks?|weeks?)\b"
    r"(?!\s*(?:old|ago|postpartum|post|pp|after|since|out|of|now|later|straight|in a row|running|late|early))"
)


_SPO2_RE = re.compile(
    r"\b(?:oxygen|o2|ox|sat|sats|saturation|saturations|pulse ox|oximeter|spo2|oxygen level|reader|finger thing|finger clip|finger monitor)\b"
    r"(?:\s+(?:level|levels|reader|meter|is|was|are|were|says|said|reads|reading|shows|at|of|down to|dropped to|keeps|dropping|only|in the|now|still|like))*"
    r"\s+(\d{2})\s*(?:%|percent)?(?!\s*(?:mg|days|minutes|hours|years|lbs|pounds))"
)


def _spo2_low(folded: str) -> bool:
    """An oxygen saturation reading of 91 % or lower ("oxygen reader says 84%")."""
    if not _has(folded, _SPO2_NEEDLES):
        return False
    return any(50 <= int(m.group(1)) <= 91 for m in _SPO2_RE.finditer(folded))


def _gestation_weeks(folded: str) -> bool:
    if "wk" not in folded and "week" not in folded:  # in every match
        return False
    return any(4 <= int(m.group(1)) <= 42 for m in _GESTATION_RE.finditer(folded))


def _infant(folded: str) -> bool:
    age = _infant_age_days(folded)
    return age is not None and age < 90


def _infant_age_days(folded: str) -> float | None:
    """The youngest baby's age in days named in the text ("6 wk old", "my 2 mo")."""
    youngest: float | None = None
    for m in _INFANT_RE.finditer(folded):
        groups = [g for g in m.groups() if g]
        if len(groups) < 2:
            continue
        value, unit = _num(groups[0]), groups[1]
        if value is None:
            continue
        days = value if unit.startswith("d") else value * 7 if unit.startswith("w") else value * 30.4
        if youngest is None or days < youngest:
            youngest = days
    return youngest


# A whole number of degrees Celsius said right after a fever word: "temp of 39", "temperature
# was 38 last night", "fever 40". A bare 35-43 elsewhere may be an age or a count ("my 40 year
# old has a fever"), so only this close reading counts without a decimal or a unit; "38 point 5"
# and "38,5" are decimals said in words or the European way.
_CELSIUS_WORD_RE = re.compile(
    r"\b(?:temp|temps|temperature|temperatures|fever|thermometer)\b"
    r"(?:\s+(?:of|is|was|s|at|now|still|up|up to|to|reached|reaching|hit|hitting|went|gone|got|been|has been|"
    r"had|reading|read|reads|says|said|showed|shows|around|about|nearly|almost|over|above|again|spiked|spiking|"
    r"climbed|climbing|rose|risen|back|this morning|tonight|today))*"
    r"\s+(3[7-9]|4[0-3])(?:\s*(?:,|point|\.)\s*(\d))?(?![\d.])"
    r"(?!\s*(?:year|yr|years|yrs|yo|hours|hrs|hour|minutes|mins|min|days|day|weeks|week|months|mg|ml|lb|lbs|kg|%|times|x\b|f\b|fahrenheit))"
)


# compiled once: re.match(str, ...) looks the pattern up in re's cache on every call
_NOT_DEGREES_RE = re.compile(r"\s*(mg|mcg|ml|lb|lbs|kg|mm|%|/|units|pounds|minutes|min|bpm|s\b)")
_RANGE_LOW_END_RE = re.compile(r"\s*(?:-|to)?\s*(?:1[1-9]\d|[2-9]\d\d)\b")


def _max_temperature_f(folded: str, has_context: bool | None = None) -> float | None:
    if has_context is None:
        has_context = _fever_context(folded)
    best: float | None = None
    for m in _CELSIUS_WORD_RE.finditer(folded):
        value = float(m.group(1)) + (float(m.group(2)) / 10 if m.group(2) else 0.0)
        value = value * 9 / 5 + 32
        best = value if best is None else max(best, value)
    for m in _TEMP_RE.finditer(folded):
        text, unit = m.group(1), (m.group(2) or "").strip()
        after = folded[m.end():m.end() + 4]
        if _NOT_DEGREES_RE.match(after):
            continue
        if _RANGE_LOW_END_RE.match(folded[m.end():m.end() + 9]):
            continue  # the low end of a range no temperature reaches: "sugars running 110-140"
        value = float(text)
        decimal = "." in text
        if unit.startswith("c") or (35.0 <= value <= 43.0 and (decimal or unit) and has_context):
            if 35.0 <= value <= 43.0:
                value = value * 9 / 5 + 32
            else:
                continue
        elif not (95.0 <= value <= 110.0 and (has_context or decimal or unit)):
            continue
        best = value if best is None else max(best, value)
    return best


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SINCE_DAY_RE = re.compile(r"\b(?:since|started|began|start|starting|from|on)\s+(?:last\s+)?(" + "|".join(_WEEKDAYS) + r")\b")
_TODAY_RE = re.compile(r"\b(?:today is|it is|its|now|today|this)\s+(" + "|".join(_WEEKDAYS) + r")\b")


def _weekday_span(folded: str) -> int | None:
    """Days from "since saturday" to "it's tuesday now", when both are named."""
    if "day" not in folded:  # in every weekday's name
        return None
    since, today = _SINCE_DAY_RE.search(folded), _TODAY_RE.search(folded)
    if not since or not today:
        return None
    return (_WEEKDAYS.index(today.group(1)) - _WEEKDAYS.index(since.group(1))) % 7


def _days_3_plus(folded: str) -> bool:
    if "day" not in folded and "night" not in folded and "week" not in folded:
        return False  # every duration it reads names days, nights or weeks (weekdays too)
    span = _weekday_span(folded)
    if span is not None and span >= 3:
        return True
    for m in _DAYS_RE.finditer(folded):
        count, unit = m.group(1), m.group(2)
        if count is not None:
            value = _num(count)
            if value is not None and (unit.startswith("week") or value >= 3):
                return True
        else:
            return True  # "a week", "the third day", "since last week"
    return False


_BP_RE = re.compile(r"(?<![\d.])(\d{2,3})\s*(?:/|over)\s*(\d{2,3})(?![\d.])")
_PULSE_RE = re.compile(
    r"\b(?:heart rate|heartrate|heart is beating|pulse|hr|bpm|heart beat|heartbeat)\b"
    r"(?:\s+(?:is|was|at|of|reads?|reading|says|shows?|showed|has been|been|went|up|down|to|over|above|under|below|around|about|like|it|just|still|now|only|keeps|dropped|sitting|stuck|high|low|racing|running))*"
    r"\s+(\d{2,3})(?![\d./])"
    r"|(?<![\d./])(\d{2,3})\s*(?:bpm|beats (?:a|per) minute)\b"
)
# A word every _PULSE_RE match contains: a cheap test that spares the costly pattern.
_PULSE_WORDS_RE = re.compile(r"heart|pulse|hr|bpm|beats")
_GLUCOSE_RE = re.compile(
    r"\b(?:blood sugars?|sugars?|glucose|bgl?|cbg|glucometer|meter|dexcom|libre|cgm)\b"
    r"((?:\s+(?:is|was|were|are|at|of|reads?|reading|says|said|shows?|showed|came back|has been|have been|been|went|gone|up|down|to|over|above|under|below|running|levels?|just|still|now|around|about|like|it|in the|only|high|low|morning|fasting|keeps|keep|dropped|dropping|spiked|hit|hitting|sitting|stuck|into the|into|dipping|dipped|falling|fell|sinking))*)"
    r"\s+(\d{1,3}(?:\.\d{1,2})?)(?![\d.])(s\b)?\s*(mmol(?:\s*/\s*l)?|mg\s*/\s*dl)?"
    r"(?!\s*(?:mg\b|units|carbs|grams|g\b|%|days?\b|minutes|min\b|hours?\b|hrs?\b|weeks?\b|wks?\b|months?\b|years?\b|lbs|pounds|times|x\b|a day|per\b|am\b|pm\b|o clock|oclock))"
)


_GLUCOSE_HIGH_RE = re.compile(r"\b(over|above|high|spiked|up)\b")
_GLUCOSE_LOW_RE = re.compile(r"\b(under|below|low|down|dropped|dropping|dipping|dipped|falling|fell|sinking)\b")


def _glucose_values(folded: str) -> list[int]:
    """Blood glucose readings in mg/dL ("sugar is 550", "glucose of 42").

    A reading in mmol/L (British and Canadian meters: "sugars over 20", "BM 2.8", "glucose
    15.6 mmol") is converted: a decimal or a unit says so, and no one types a whole number
    under 20 in mg/dL. A whole 20 to 34 could be either (a very low mg/dL or a very high
    mmol/L): both readings count, so each rule asks for its own symptoms.
    """
    values: list[int] = []
    for m in _GLUCOSE_RE.finditer(folded):
        words, text, decade, unit = m.group(1) or "", m.group(2), m.group(3), (m.group(4) or "")
        value = float(text)
        if decade:  # "in the 3s", "the 40s": the middle of the span
            value += 0.5 if value < 10 else 5
        high = _GLUCOSE_HIGH_RE.search(words) is not None
        low = _GLUCOSE_LOW_RE.search(words) is not None
        if unit.startswith("mmol") or (value < 35 and ("." in text or value < 20 or (high and not low))):
            values.append(round(value * 18))
        elif unit.startswith("mg") or value >= 35 or (low and not high):
            values.append(round(value))
        else:
            values.extend((round(value), round(value * 18)))
    return values


_TAKE_STEMS = frozenset({"took", "taken", "swallow", "had", "ate", "pop", "down", "chug", "gave", "given"})
_UNIT_STEMS = frozenset({"pill", "tablet", "tab", "capsul", "cap", "gummi", "{drug}"})
_TEMPERATURE_STEMS = frozenset({"fever", "temp", "temperatur", "degre", "thermomet"})
_STOP_STEMS = frozenset({"mg", "mcg", "ml", "unit", "minut", "min", "hour", "day", "week", "year", "time", "and", "or", "but"})


def _pill_counts(lattices) -> Iterator[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """(clause, word) of each "ten or more pills taken at once" ("took like 20 ibuprofen"),
    not a daily regimen ("take 12 pills a day")."""
    for c, lattice in enumerate(lattices):
        n = len(lattice)
        for i, alts in enumerate(lattice):
            token = alts[0][0]
            if not token.isdigit() or int(token) < 10 or int(token) > 500:
                continue
            if not any(lattice[j][0][0] in _TAKE_STEMS for j in range(max(0, i - 4), i)):
                continue
            before = [lattice[j][0][0] for j in range(max(0, i - 4), i)]
            if _TEMPERATURE_STEMS.intersection(before) or before[-2:] == ["down", "to"]:
                continue  # a reading, not a count: "a fever of 104 that came down to 101 with motrin"
            j = i + 1  # the pill word may follow a few words on: "20 of his sleeping pills"
            while j < n and j <= i + 4 and lattice[j][0][0] not in _STOP_STEMS \
                    and not any(t in _UNIT_STEMS for t, _ in lattice[j]):
                j += 1
            if j >= n or not any(t in _UNIT_STEMS for t, _ in lattice[j]):
                continue
            width = max(w for t, w in lattice[j] if t in _UNIT_STEMS or t == lattice[j][0][0])
            after = [lattice[k][0][0] for k in range(j + width, min(n, j + width + 3))]
            if after[:1] == ["a"] or any(t in ("day", "daili", "per", "everi", "each") for t in after):
                continue
            yield c, i


def load_triage(lexicon: Lexicon) -> Triage:
    return Triage(lexicon.raw["triage"], lexicon)
