"""Declarative flow definitions (flows/data/flows.yaml) loaded into frozen types."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..intents.lexicon import Lexicon, LexiconError
from ..intents.phrases import PhraseIndex
from ..models import INTENTS
from ..yamlfile import load_yaml

FLOWS_FILE = Path(__file__).parent / "data" / "flows.yaml"
KINDS = frozenset({"text", "time", "enum", "medication", "pharmacy", "test"})
OPENING_MODES = frozenset({"always", "never", "symptom", "reason", "onset", "severity", "self_care"})
CONTROL_WORDS = ("yes", "no", "cancel", "strong_cancel", "retract", "defer", "restart", "switch", "deny", "unsure")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    from_opening: str = "always"
    direction: str = "future"
    unknown: str | None = None  # filed when the patient does not know
    none: str | None = None  # filed when the patient says "nothing"
    fallback: str | None = None  # filed after too many unusable answers
    quick_replies: tuple[str, ...] = ()
    # whether the learned triage model reads the answer too (the rules always do)
    second_opinion: bool = True
    # whether "for two weeks" in an opening fills it (an onset, yes; a test's date, no)
    durations: bool = True


@dataclass(frozen=True)
class FlowSpec:
    intent: str
    fields: tuple[FieldSpec, ...]

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True)
class Flows:
    flows: Mapping[str, FlowSpec]
    max_attempts: int
    labels: Mapping[str, str]
    field_labels: Mapping[str, str]
    value_labels: Mapping[str, Mapping[str, str]]
    control: Mapping[str, PhraseIndex[bool]]
    menu: PhraseIndex[str]
    reason_words: PhraseIndex[bool]
    self_care_words: PhraseIndex[bool]
    self_care_asked: PhraseIndex[bool]
    question_to_come: PhraseIndex[bool]
    pharmacy_complaint: PhraseIndex[bool]
    assigning: PhraseIndex[bool]
    safety_replies: tuple[str, ...] = ("Yes", "No", "I'm not sure")

    def label_value(self, field: str, value: str) -> str:
        return self.value_labels.get(field, {}).get(value, value)


def _field(intent: str, raw: Mapping[str, Any], lexicon: Lexicon) -> FieldSpec:
    name = str(raw.get("name"))
    kind = str(raw.get("kind"))
    where = f"flows.yaml {intent}.{name}"
    if kind not in KINDS:
        raise LexiconError(f"{where}: unknown kind {kind!r}")
    mode = str(raw.get("from_opening", "always"))
    if mode not in OPENING_MODES:
        raise LexiconError(f"{where}: unknown from_opening {mode!r}")
    if kind == "enum" and name not in lexicon.enum_index:
        raise LexiconError(f"{where}: no enumeration for {name} in fields.yaml")
    return FieldSpec(
        name=name,
        kind=kind,
        from_opening=mode,
        direction=str(raw.get("direction", "future")),
        unknown=raw.get("unknown"),
        none=raw.get("none"),
        fallback=raw.get("fallback"),
        quick_replies=tuple(raw.get("quick_replies") or ()),
        second_opinion=bool(raw.get("second_opinion", kind == "text")),
        durations=bool(raw.get("durations", True)),
    )


def load_flows(lexicon: Lexicon, path: Path = FLOWS_FILE) -> Flows:
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LexiconError(f"{path}: {exc}") from exc
    flows: dict[str, FlowSpec] = {}
    for intent, fields in (raw.get("flows") or {}).items():
        if intent not in INTENTS:
            raise LexiconError(f"flows.yaml: unknown intent {intent!r}")
        flows[intent] = FlowSpec(intent, tuple(_field(intent, f, lexicon) for f in fields))
    missing = set(INTENTS) - set(flows)
    if missing:
        raise LexiconError(f"flows.yaml: no flow for {sorted(missing)}")
    control_raw = raw.get("control") or {}
    control: dict[str, PhraseIndex[bool]] = {}
    for word in CONTROL_WORDS:
        if not control_raw.get(word):
            raise LexiconError(f"flows.yaml: control.{word} is missing (quote yes/no keys: YAML reads them as booleans)")
        index: PhraseIndex[bool] = PhraseIndex(lexicon.shorthand)
        index.add_all(control_raw.get(word) or [], True)
        control[word] = index
    menu: PhraseIndex[str] = PhraseIndex(lexicon.shorthand)
    for intent, templates in (control_raw.get("menu") or {}).items():
        menu.add_all(templates, str(intent))
    cue_lists: dict[str, PhraseIndex[bool]] = {}
    for name in ("reason_words", "self_care_words", "self_care_asked", "question_to_come", "pharmacy_complaint",
                 "assigning"):
        index = PhraseIndex(lexicon.shorthand)
        index.add_all(raw.get(name) or [], True)
        cue_lists[name] = index
    labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
    for intent in INTENTS:
        if intent not in labels:
            raise LexiconError(f"flows.yaml: no label for intent {intent}")
    return Flows(
        flows=flows,
        max_attempts=int(raw.get("max_attempts", 3)),
        labels=labels,
        field_labels={str(k): str(v) for k, v in (raw.get("field_labels") or {}).items()},
        value_labels={str(k): {str(a): str(b) for a, b in v.items()} for k, v in (raw.get("value_labels") or {}).items()},
        control=control,
        menu=menu,
        reason_words=cue_lists["reason_words"],
        self_care_words=cue_lists["self_care_words"],
        self_care_asked=cue_lists["self_care_asked"],
        question_to_come=cue_lists["question_to_come"],
        pharmacy_complaint=cue_lists["pharmacy_complaint"],
        assigning=cue_lists["assigning"],
        safety_replies=tuple(str(r) for r in raw.get("safety_replies") or Flows.safety_replies),
    )


@lru_cache(maxsize=8)
def cached_flows(lexicon: Lexicon) -> Flows:
    return load_flows(lexicon)
