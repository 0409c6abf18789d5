"""Red-flag triage (SPEC §3): explicit, reviewable rules with scoping.

Rules and cues live in ``data/triage.yaml``. This module compiles them once
and evaluates a message: find rule phrases per clause, drop the mentions that
are negated, historical, hypothetical, educational, about a report or
resolved, and return the most urgent level that still fires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..models import TriageResult
from .lexicon import Lexicon, LexiconError, Message
from .phrases import Match, PhraseIndex, TemplateError

SCOPES = ("negation", "history", "educational", "conditional", "records", "resolved")
CLAUSE_SCOPES = ("history", "records")  # cue must sit in the same clause
COMPUTED_FEATURES = ("infant_under_3_months", "fever_100_4", "fever_103", "days_3_plus")


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


@dataclass
class _ClauseScan:
    cues: dict[str, list[Match[str]]] = field(default_factory=dict)


class Triage:
    """Compiled red-flag rules."""

    def __init__(self, data: Mapping[str, Any], lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        try:
            self._compile(data, lexicon)
        except TemplateError as exc:
            raise LexiconError(f"triage.yaml: {exc}") from exc

    def _compile(self, data: Mapping[str, Any], lexicon: Lexicon) -> None:
        self.priority: tuple[str, ...] = tuple(data.get("priority") or ())
        cues = data.get("cues") or {}
        self.negation_window = int(cues.get("negation_window", 5))
        self.cue_index: PhraseIndex[str] = PhraseIndex(lexicon.shorthand)
        for kind in ("negation", "pseudo_negation", "present", *SCOPES[1:]):
            templates = cues.get(kind)
            if not isinstance(templates, list):
                raise LexiconError(f"triage.yaml: cues.{kind} must be a list")
            self.cue_index.add_all(templates, kind)

        self.feature_index: PhraseIndex[str] = PhraseIndex(lexicon.shorthand)
        self.feature_alias: dict[str, tuple[str, ...]] = {}
        features = data.get("features") or {}
        for name, templates in features.items():
            refs = tuple(t[1:] for t in templates if t.startswith("@"))
            for ref in refs:
                if ref not in features and ref not in COMPUTED_FEATURES:
                    raise LexiconError(f"triage.yaml: feature {name} names unknown feature {ref}")
            self.feature_alias[name] = refs
            self.feature_index.add_all([t for t in templates if not t.startswith("@")], name)

        self.rules: list[Rule] = []
        self.rule_index: PhraseIndex[tuple[int, str, int]] = PhraseIndex(lexicon.shorthand)
        seen: set[str] = set()
        for i, raw in enumerate(data.get("rules") or ()):
            rule = self._compile_rule(i, raw, features)
            if rule.id in seen:
                raise LexiconError(f"triage.yaml: duplicate rule id {rule.id}")
            seen.add(rule.id)
            self.rules.append(rule)
            for level in (rule.level,):
                if level not in self.priority:
                    raise LexiconError(f"triage.yaml: rule {rule.id} has unknown level {level}")

    def _compile_rule(self, i: int, raw: Mapping[str, Any], features: Mapping[str, Any]) -> Rule:
        rid = str(raw.get("id") or f"rule{i}")
        scopes = frozenset(raw.get("scopes") or SCOPES)
        unknown = scopes - set(SCOPES)
        if unknown:
            raise LexiconError(f"triage.yaml: rule {rid} has unknown scopes {sorted(unknown)}")
        phrases = raw.get("phrases") or []
        self.rule_index.add_all(phrases, (i, "phrase", 0))
        near = raw.get("near") or {}
        groups = near.get("groups") or []
        for g, templates in enumerate(groups):
            self.rule_index.add_all(templates, (i, "group", g))
        requires = raw.get("requires_any") or []
        self.rule_index.add_all(requires, (i, "requires", 0))
        self.rule_index.add_all(raw.get("unless") or [], (i, "unless", 0))
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
        )

    # -- evaluation ---------------------------------------------------------

    def assess(self, message: Message) -> TriageResult:
        """The most urgent level any unscoped red flag in the message calls for."""
        scans = [self._cues(lattice) for lattice in message.lattices]
        sentence_of = message.analysed.sentence_of
        sentence_cues: dict[int, set[str]] = {}
        for c, scan in enumerate(scans):
            sentence_cues.setdefault(sentence_of[c], set()).update(k for k, v in scan.cues.items() if v)

        def live(c: int, start: int, scopes: frozenset[str]) -> bool:
            scan = scans[c]
            if "negation" in scopes and self._negated(scan, start):
                return False
            for scope in ("history", "records"):
                if scope in scopes and scan.cues.get(scope):
                    if scope == "history" and scan.cues.get("present"):
                        continue
                    return False
            in_sentence = sentence_cues[sentence_of[c]]
            for scope in ("educational", "conditional", "resolved"):
                if scope in scopes and scope in in_sentence:
                    return False
            return True

        fired: dict[str, str] = {}
        rule_hits: dict[int, list[tuple[int, Match[tuple[int, str, int]]]]] = {}
        for c, lattice in enumerate(message.lattices):
            for m in self.rule_index.find(lattice):
                rule_hits.setdefault(m.payload[0], []).append((c, m))

        features = self._features(message, scans, live)
        for i, rule in enumerate(self.rules):
            if rule.level in fired:
                continue
            hits = rule_hits.get(i, [])
            if self._rule_fires(rule, hits, features, live):
                fired[rule.level] = rule.id
        for level in self.priority:
            if level in fired:
                return TriageResult(level, fired[level])
        return TriageResult("routine", None)

    def _rule_fires(self, rule: Rule, hits: list[tuple[int, Match[tuple[int, str, int]]]],
                    features: set[str], live) -> bool:  # type: ignore[no-untyped-def]
        if rule.has_requires and not any(m.payload[1] == "requires" for _, m in hits):
            return False
        unless_clauses = {c for c, m in hits if m.payload[1] == "unless"}
        if rule.has_phrases:
            for c, m in hits:
                if m.payload[1] == "phrase" and c not in unless_clauses and live(c, m.start, rule.scopes):
                    return True
        if rule.groups:
            by_clause: dict[int, dict[int, list[Match[Any]]]] = {}
            for c, m in hits:
                if m.payload[1] == "group" and c not in unless_clauses:
                    by_clause.setdefault(c, {}).setdefault(m.payload[2], []).append(m)
            for c, groups in by_clause.items():
                if len(groups) == rule.groups and self._near(c, groups, rule, live):
                    return True
        if rule.all_features:
            return all(self._has_feature(name, features) for name in rule.all_features)
        return False

    def _near(self, c: int, groups: dict[int, list[Match[Any]]], rule: Rule, live) -> bool:  # type: ignore[no-untyped-def]
        """Every group within `window` words of the first group's mention, and live."""
        for anchor in groups[0]:
            span = anchor
            for g in range(1, rule.groups):
                close = [m for m in groups[g] if _gap(span, m) <= rule.window]
                if not close:
                    break
                best = min(close, key=lambda m: _gap(span, m))
                span = Match(min(span.start, best.start), max(span.end, best.end), None)
            else:
                if live(c, span.start, rule.scopes):
                    return True
        return False

    def _has_feature(self, name: str, features: set[str]) -> bool:
        if name in features:
            return True
        return any(self._has_feature(alias, features) for alias in self.feature_alias.get(name, ()))

    def _features(self, message: Message, scans: list[_ClauseScan], live) -> set[str]:  # type: ignore[no-untyped-def]
        found = set(computed_features(message.analysed.folded))
        all_scopes = frozenset(SCOPES)
        for c, lattice in enumerate(message.lattices):
            for m in self.feature_index.find(lattice):
                if m.payload not in found and live(c, m.start, all_scopes):
                    found.add(m.payload)
        return found

    def _cues(self, lattice) -> _ClauseScan:  # type: ignore[no-untyped-def]
        scan = _ClauseScan()
        for m in self.cue_index.find(lattice):
            scan.cues.setdefault(m.payload, []).append(m)
        return scan

    def _negated(self, scan: _ClauseScan, start: int) -> bool:
        pseudo = scan.cues.get("pseudo_negation", [])
        for cue in scan.cues.get("negation", []):
            if cue.end > start or start - cue.end > self.negation_window:
                continue
            if any(p.start <= cue.start < p.end for p in pseudo):
                continue
            return True
        return False


def _gap(a: Match[Any], b: Match[Any]) -> int:
    """Words strictly between two matches (0 when adjacent or overlapping)."""
    if b.start >= a.end:
        return b.start - a.end
    if a.start >= b.end:
        return a.start - b.end
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
    rf"|\b(?:baby|infant|newborn|son|daughter|she|he)\s+(?:is|was|turned)\s+(?:only\s+|just\s+)?{_NUM}\s*(day|days|week|weeks|wk|wks)\b"
    rf"|\(\s*{_NUM}\s*(day|days|week|weeks|wk|wks)\s*(?:old)?\s*\)"
)
_NEWBORN_RE = re.compile(r"\b(newborn|neonate|new born)\b")
_TEMP_RE = re.compile(r"(?<![\d/.])(\d{2,3}(?:\.\d)?)\s*(°|degrees|deg|f\b|c\b|fahrenheit|celsius)?")
_FEVER_CONTEXT_RE = re.compile(
    r"\b(fever|temp|temperature|thermometer|degrees|rectal|rectally|orally|forehead|armpit|measured|reading|read|running|spiked|spiking|hot)\b|°"
)
_DAYS_RE = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|few|several|couple(?: of)?)\s+(?:straight\s+|whole\s+|full\s+)?(days?|nights?|weeks?)\b"
    r"|\b(a|one|over a|more than a|almost a|nearly a|about a)\s+(week|whole week)\b"
    r"|\b(third|3rd|fourth|4th|fifth|5th|sixth|6th|seventh|7th)\s+(day|night)\b"
    r"|\bsince\s+last\s+(week|weekend)\b"
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


def computed_features(folded: str) -> Iterable[str]:
    """Features read from numbers: an infant's age, a temperature, a duration."""
    if _NEWBORN_RE.search(folded) or _infant(folded):
        yield "infant_under_3_months"
    temp = _max_temperature_f(folded)
    if temp is not None and temp >= 100.4:
        yield "fever_100_4"
    if temp is not None and temp >= 103.0:
        yield "fever_103"
    if _days_3_plus(folded):
        yield "days_3_plus"


def _infant(folded: str) -> bool:
    for m in _INFANT_RE.finditer(folded):
        groups = [g for g in m.groups() if g]
        if len(groups) < 2:
            continue
        value, unit = _num(groups[0]), groups[1]
        if value is None:
            continue
        if unit.startswith("d") and value < 90:
            return True
        if unit.startswith("w") and value < 13:
            return True
        if unit.startswith("m") and value < 3:
            return True
    return False


def _max_temperature_f(folded: str) -> float | None:
    has_context = bool(_FEVER_CONTEXT_RE.search(folded))
    best: float | None = None
    for m in _TEMP_RE.finditer(folded):
        text, unit = m.group(1), (m.group(2) or "").strip()
        after = folded[m.end():m.end() + 4]
        if re.match(r"\s*(mg|mcg|ml|lb|lbs|kg|mm|%|/|units|pounds|minutes|min|bpm|s\b)", after):
            continue
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


def _days_3_plus(folded: str) -> bool:
    for m in _DAYS_RE.finditer(folded):
        count, unit = m.group(1), m.group(2)
        if count is not None:
            value = _num(count)
            if value is not None and (unit.startswith("week") or value >= 3):
                return True
        else:
            return True  # "a week", "the third day", "since last week"
    return False


def load_triage(lexicon: Lexicon) -> Triage:
    return Triage(lexicon.raw["triage"], lexicon)
