"""Load the phrase lexicons (YAML data files) into indexes the core matches against.

The package ships its data in ``intents/data/``; a clinic may add a directory
of its own with files of the same names. Lists in a clinic file extend ours,
mappings merge. Bad data fails here, at start-up, with the file named.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml
from wordfreq import top_n_list

from ..models import INTENTS
from ..text import Analysed, Vocabulary, Memo, analyse, fold, raw_tokens
from .phrases import PhraseIndex, TemplateError, building, template_words
from ..yamlfile import load_yaml

DATA_DIR = Path(__file__).parent / "data"
DATA_FILES = ("shorthand.yaml", "intents.yaml", "drugs.yaml", "fields.yaml", "triage.yaml", "learned.yaml")
ENGLISH_WORDS = 80_000  # how many frequent English words count as "spelt right"

DRUG = "{drug}"
TEST = "{test}"


class LexiconError(ValueError):
    """A lexicon data file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class IntentPhrase:
    intent: str
    weight: float
    entry: int  # which lexicon entry: a message counts each entry once


@dataclass(frozen=True)
class Message:
    """A patient message analysed once and shared by triage, classifier and extractors."""

    analysed: Analysed
    lattices: tuple[tuple[tuple[tuple[str, int], ...], ...], ...]  # per clause
    # per clause, its stems when its lattice has no alternatives (no drug or test name),
    # else None: the phrase scans read a plain clause's tokens without unpacking the lattice
    plain: tuple[tuple[str, ...] | None, ...] = field(default=(), repr=False, compare=False)

    def plain_tokens(self) -> tuple[tuple[str, ...] | None, ...]:
        """`plain`, or all None for a message built without it."""
        return self.plain or (None,) * len(self.lattices)

    @property
    def text(self) -> str:
        return self.analysed.text

    @property
    def clauses(self) -> tuple[tuple[str, ...], ...]:
        return self.analysed.stems

    @property
    def words(self) -> tuple[tuple[str, ...], ...]:
        return self.analysed.clauses


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for key, value in extra.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(extra, list):
        return base + extra
    return extra


def load_raw(extra_dirs: Sequence[Path] = ()) -> tuple[dict[str, Any], str]:
    """The merged data files and a short version hash of their contents."""
    digest = hashlib.sha256()
    merged: dict[str, Any] = {}
    for name in DATA_FILES:
        stem = name.removesuffix(".yaml")
        # a package file may be split: triage.yaml, then triage_*.yaml in name order
        sources = [DATA_DIR / name, *sorted(DATA_DIR.glob(f"{stem}_*.yaml"))]
        sources += [Path(d) / name for d in extra_dirs]
        data: Any = {}
        for path in sources:
            if not path.exists():
                if path.parent == DATA_DIR:
                    raise LexiconError(f"missing data file {path}")
                continue
            text = path.read_text(encoding="utf-8")
            digest.update(text.encode())
            try:
                loaded = load_yaml(text) or {}
            except yaml.YAMLError as exc:
                raise LexiconError(f"{path}: {exc}") from exc
            if not isinstance(loaded, dict):
                raise LexiconError(f"{path}: expected a mapping at the top level")
            data = _merge(data, loaded)
        merged[name.removesuffix(".yaml")] = data
    return merged, digest.hexdigest()[:12]


def _templates(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LexiconError(f"{where}: expected a list of phrase templates")
    return value


def _words_of(templates: Iterable[str]) -> set[str]:
    """The tokens of every phrase the templates expand to. Folding and tokens never cross
    a space, so each distinct word is read once instead of once per expanded phrase."""
    spelt: set[str] = set()
    for template in templates:
        spelt.update(template_words(template))
    words: set[str] = set()
    for word in spelt:
        words.update(raw_tokens(fold(word)))
    return words


class Lexicon:
    """Every index the core needs, built once from the data files."""

    def __init__(self, raw: Mapping[str, Any], version: str) -> None:
        self.version = version
        self.raw = raw
        self.shorthand: dict[str, str] = {
            str(k): str(v) for k, v in (raw["shorthand"].get("shorthand") or {}).items()
        }
        with building():
            domain_words: set[str] = set()
            try:
                self._build_drugs(raw["drugs"], domain_words)
                self._build_intents(raw["intents"], domain_words)
                self._build_fields(raw["fields"], domain_words)
                self._build_slots(raw["drugs"], raw["fields"])
            except TemplateError as exc:
                raise LexiconError(str(exc)) from exc
            domain_words.update(self._triage_words(raw["triage"]))
            domain_words.update(w for v in self.shorthand.values() for w in v.split())
            self.vocab = Vocabulary(domain_words, top_n_list("en", ENGLISH_WORDS), self.shorthand)

    # -- building ----------------------------------------------------------

    def _index(self) -> PhraseIndex[Any]:
        return PhraseIndex(self.shorthand)

    def _build_drugs(self, data: Mapping[str, Any], words: set[str]) -> None:
        self.drug_index: PhraseIndex[str] = self._index()
        self.drug_names: dict[str, tuple[str, ...]] = {}
        for generic, brands in (data.get("drugs") or {}).items():
            names = (str(generic), *(str(b) for b in brands or ()))
            self.drug_names[str(generic)] = names
            for name in names:
                self.drug_index.add(name, str(generic))
                words.update(raw_tokens(fold(name)))
        # (words a patient says for a dosage form, words a list entry spells it with)
        self.drug_forms: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
            (frozenset(w for said in f.get("said") or () for w in raw_tokens(fold(str(said)))),
             frozenset(str(x).lower() for x in f.get("listed") or ()))
            for f in data.get("forms") or ())
        self.drug_classes: PhraseIndex[tuple[str, ...]] = self._index()
        for i, entry in enumerate(data.get("classes") or ()):
            generics = tuple(str(g) for g in entry.get("generics") or ())
            unknown = [g for g in generics if g not in self.drug_names]
            if unknown:
                raise LexiconError(f"drugs.yaml classes[{i}]: unknown generics {unknown}")
            phrases = _templates(entry.get("phrases"), f"drugs.yaml classes[{i}]")
            self.drug_classes.add_all(phrases, generics)
            words.update(_words_of(phrases))

    def _build_intents(self, data: Mapping[str, Any], words: set[str]) -> None:
        self.tie_order: tuple[str, ...] = tuple(data.get("tie_order") or INTENTS)
        self.intent_index: PhraseIndex[IntentPhrase] = self._index()
        # the templates in the order they were added: the triage index adds them too, so
        # that one walk per clause finds the intent phrases and the red flags (triage.py)
        self.intent_phrases: list[tuple[str, IntentPhrase]] = []
        entry = 0
        for intent, by_weight in (data.get("intents") or {}).items():
            if intent not in INTENTS:
                raise LexiconError(f"intents.yaml: unknown intent {intent!r}")
            for weight, templates in (by_weight or {}).items():
                for template in _templates(templates, f"intents.yaml {intent} {weight}"):
                    phrase = IntentPhrase(intent, float(weight), entry)
                    self.intent_index.add(template, phrase)
                    self.intent_phrases.append((template, phrase))
                    entry += 1
                words.update(_words_of(templates))

    def _build_fields(self, data: Mapping[str, Any], words: set[str]) -> None:
        self.enum_index: dict[str, PhraseIndex[str]] = {}
        for field, values in (data.get("enums") or {}).items():
            index = self._index()
            for value, templates in values.items():
                index.add_all(_templates(templates, f"fields.yaml enums {field} {value}"), str(value))
                words.update(_words_of(templates))
            self.enum_index[str(field)] = index
        self.enum_priority: dict[str, tuple[str, ...]] = {
            str(k): tuple(v) for k, v in (data.get("priority") or {}).items()
        }
        for field, order in self.enum_priority.items():
            if field not in self.enum_index:
                raise LexiconError(f"fields.yaml priority names unknown field {field!r}")
        self.test_index: PhraseIndex[str] = self._index()
        self.test_index.add_all(_templates(data.get("tests"), "fields.yaml tests"), TEST)
        words.update(_words_of(data["tests"]))
        self.pharmacy_index: PhraseIndex[str] = self._index()
        for kind, templates in (data.get("pharmacy") or {}).items():
            self.pharmacy_index.add_all(_templates(templates, f"fields.yaml pharmacy {kind}"), str(kind))
            words.update(_words_of(templates))
        self.cue_index: dict[str, PhraseIndex[bool]] = {}
        for name in ("unknown", "none", "self", "child_words", "own_request"):
            index = self._index()
            index.add_all(_templates(data.get(name), f"fields.yaml {name}"), True)
            words.update(_words_of(data[name]))
            self.cue_index[name] = index

    def _build_slots(self, drugs: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        # drug and test names in one index, so a clause's lattice costs one scan, not two
        self.slot_index: PhraseIndex[str] = self._index()
        for names in self.drug_names.values():
            self.slot_index.add_all(names, DRUG)
        self.slot_index.add_all(fields.get("tests") or (), TEST)

    @staticmethod
    def _triage_words(data: Mapping[str, Any]) -> set[str]:
        templates: list[str] = []
        for cues in (data.get("cues") or {}).values():
            if isinstance(cues, list):
                templates.extend(cues)
        for feats in (data.get("features") or {}).values():
            templates.extend(t for t in feats if not t.startswith("@"))
        for rule in data.get("rules") or ():
            templates.extend(rule.get("phrases") or ())
            for group in (rule.get("near") or {}).get("groups") or ():
                templates.extend(group)
            templates.extend(rule.get("requires_any") or ())
        return _words_of(templates)

    # -- analysing a message ----------------------------------------------

    def message(self, text: str) -> Message:
        analysed = analyse(text, self.vocab)
        lattices = []
        plain: list[tuple[str, ...] | None] = []
        for stems in analysed.stems:
            lattice = self._slot_lattice(stems)
            if lattice is None:  # no drug or test name: each word its own only reading
                lattices.append(tuple(map(_only_reading, stems)))
                plain.append(stems)
            else:
                lattices.append(lattice)
                plain.append(None)
        return Message(analysed, tuple(lattices), tuple(plain))

    def _lattice(self, stems: tuple[str, ...]) -> tuple[tuple[tuple[str, int], ...], ...]:
        lattice = self._slot_lattice(stems)
        return tuple(map(_only_reading, stems)) if lattice is None else lattice

    def _slot_lattice(self, stems: tuple[str, ...]) -> tuple[tuple[tuple[str, int], ...], ...] | None:
        """The clause's lattice with its drug and test readings, or None if it has none."""
        found = self.slot_index.find_tokens(stems)
        if not found:
            return None
        extra: dict[int, list[tuple[str, int]]] = {}
        for marker in (DRUG, TEST):  # a word's drug readings before its test readings
            for m in found:
                if m.payload != marker:
                    continue
                alt = (marker, m.end - m.start)
                slot = extra.setdefault(m.start, [])
                if alt not in slot:
                    slot.append(alt)
        return tuple(
            tuple([(stem, 1), *extra.get(i, ())]) for i, stem in enumerate(stems)
        )


def _reading(stem: str) -> tuple[tuple[str, int], ...]:
    return ((stem, 1),)


# A word's lattice position when its own stem is its only reading, memoised by stem like
# the stems themselves (text.stem): the same immutable tuple for every message, instead
# of two new tuples per word (a generator frame per clause, too).
_only_reading: Callable[[str], tuple[tuple[str, int], ...]] = Memo(_reading, 100_000).__getitem__  # type: ignore[arg-type]


@lru_cache(maxsize=8)
def load_lexicon(extra_dirs: tuple[Path, ...] = ()) -> Lexicon:
    """The lexicon for the package data plus a clinic's directories (cached)."""
    raw, version = load_raw(extra_dirs)
    return Lexicon(raw, version)
