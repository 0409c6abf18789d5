"""Understanding a patient message: triage, intent and the words behind them.

Everything here is pure and synchronous: text in, plain data out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from operator import methodcaller
from pathlib import Path
from typing import Any, Mapping

from ..models import CALL_NOW_LEVELS, INTENTS, TRIAGE_LEVELS, Classification, TriageResult
from .classifier import CLARIFY_BELOW, classify, pivot_clause
from .learned import LinearModel, features, load_model
from .lexicon import DATA_DIR, Lexicon, LexiconError, Message, load_lexicon
from ..text import fold

_WORD_RE = re.compile(r"[a-z0-9]+")  # the words as typed, before spelling correction ("siento" is no "into")
_GROUP = methodcaller("group")  # of a match
from .phrases import building
from .triage import ClauseSpans, Triage, load_triage

__all__ = ["CLARIFY_BELOW", "LexiconError", "Reading", "Understanding", "load_understanding"]

# The rule id a turn records when the learned triage model raised it.
LEARNED_RULE = "learned_model"


@dataclass(frozen=True)
class Reading:
    message: Message
    intent: Classification
    triage: TriageResult


@dataclass(frozen=True)
class LearnedSettings:
    urgent_above: float = 0.5
    same_day_above: float = 0.8
    min_words: int = 6
    routine_log_odds: float = 0.5
    lexicon_weight: float = 0.5
    vague_words: frozenset[str] = frozenset()

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> "LearnedSettings":
        data = raw.get("learned") or {}
        triage, intent = data.get("triage") or {}, data.get("intent") or {}
        settings = cls(
            urgent_above=float(triage.get("urgent_above", cls.urgent_above)),
            same_day_above=float(triage.get("same_day_above", cls.same_day_above)),
            min_words=int(triage.get("min_words", cls.min_words)),
            routine_log_odds=float(triage.get("routine_log_odds", cls.routine_log_odds)),
            lexicon_weight=float(intent.get("lexicon_weight", cls.lexicon_weight)),
            vague_words=frozenset(fold(w) for w in " ".join(triage.get("vague_words") or ()).split()),
        )
        for name in ("urgent_above", "same_day_above", "lexicon_weight"):
            if not 0.0 <= getattr(settings, name) <= 1.0:
                raise LexiconError(f"learned.yaml: {name} must be between 0 and 1")
        return settings


@dataclass(frozen=True)
class Understanding:
    """The lexicon, the compiled red-flag rules and the learned models, loaded once per process."""

    lexicon: Lexicon
    rules: Triage
    triage_model: LinearModel | None = None
    intent_model: LinearModel | None = None
    settings: LearnedSettings = LearnedSettings()

    @property
    def version(self) -> str:
        models = [m.digest for m in (self.triage_model, self.intent_model) if m is not None]
        if not models:
            return self.lexicon.version
        return hashlib.sha256(" ".join([self.lexicon.version, *models]).encode()).hexdigest()[:12]

    def message(self, text: str) -> Message:
        return self.lexicon.message(text)

    def read(self, text: str, *, earlier: str = "", second_opinion: bool = True) -> Reading:
        """Intent and triage of a message; `earlier` is what the patient said before in
        this conversation, screened together with it (UTI symptoms in one answer and a
        fever in the next add up). `second_opinion=False` leaves triage to the rules (an
        answer to a pointed question is not the kind of text the model learned from)."""
        message = self.lexicon.message(text)
        feats = _Features(message)  # counted once, and only if a model is asked
        scanned = self.rules.scan(message)  # one walk per clause finds the intent phrases and the red flags
        intent = self._classify(message, feats, scanned)
        triage = self.rules.assess(message, scanned)
        if not triage.urgent and earlier:
            triage = self.rules.assess(self.lexicon.message(f"{earlier}. {text}"))
        if second_opinion:
            triage = self._second_opinion(message, feats, triage)
        if triage.urgent and intent.intent == "other":
            # an urgent message that asks for nothing else is about a symptom
            intent = Classification("symptom", intent.confidence, intent.scores)
        return Reading(message, intent, triage)

    def triage(self, message: Message) -> TriageResult:
        return self._second_opinion(message, _Features(message), self.rules.assess(message))

    def classify(self, message: Message) -> Classification:
        """The lexicon's intent, blended with the intent model's when there is one."""
        return self._classify(message, _Features(message))

    def _classify(self, message: Message, feats: "_Features", scanned: ClauseSpans | None = None) -> Classification:
        lexical = classify(message, self.lexicon, scanned)
        if self.intent_model is None or len(lexical.scores) < 2:
            # no phrase at all: "other" with no confidence, so the bot asks; one intent
            # alone: its full share already outweighs anything the model could add
            return lexical
        if len(message.lattices) > 1 and pivot_clause(message) is not None:
            # "started to book an appt ... but honestly I just need more meloxicam": the
            # lexicon weighs what the patient turned to; a bag of words cannot tell the turn
            return lexical
        total = sum(lexical.scores.values())
        w = self.settings.lexicon_weight
        learned = self.intent_model.score(feats.counts)
        blended = {i: w * lexical.scores.get(i, 0.0) / total + (1 - w) * learned.get(i, 0.0) for i in INTENTS}
        # the model weighs the requests the lexicon found; it does not bring in one the
        # words never named ("a question about my asthma" is not an appointment)
        best = max((i for i in INTENTS if lexical.scores.get(i)), key=lambda i: blended[i])  # INTENTS order breaks ties
        if best == lexical.intent or best == "other":
            # the model may move the call between requests, not demote one the lexicon
            # found to "other" (a question "regarding my asthma" is a symptom question)
            return lexical
        # the model broke the lexicon's choice: no surer than the lexicon was, so a torn
        # lexicon still makes the bot ask ("Is this about ...?") instead of guessing
        confidence = min(lexical.confidence, round(blended[best], 3))
        return Classification(best, confidence, {i: round(v, 3) for i, v in blended.items() if v})

    def _second_opinion(self, message: Message, feats: "_Features", found: TriageResult) -> TriageResult:
        """Raise (never lower) the rules' level where the triage model is confident."""
        if self.triage_model is None or found.level in CALL_NOW_LEVELS:
            return found
        if sum(map(len, message.analysed.clauses)) < self.settings.min_words:  # all_words, uncopied
            return found  # "me", "I don't know", "mail order": too few words for a word model
        if self.only_vague(message):
            # "me siento mal, I'm feeling bad": the word model's call on such words is noise,
            # and the bot's next question (what is wrong?) is screened like every answer
            return found
        p = self.triage_model.score(feats.counts, shift={"routine": self.settings.routine_log_odds})
        call_now = sum(p.get(level, 0.0) for level in CALL_NOW_LEVELS)
        if call_now > self.settings.urgent_above:
            return TriageResult(max(CALL_NOW_LEVELS, key=lambda level: p.get(level, 0.0)), LEARNED_RULE)
        if found.level == "routine" and call_now + p.get("same_day", 0.0) > self.settings.same_day_above:
            return TriageResult("same_day", LEARNED_RULE)
        return found

    def only_vague(self, message: Message) -> bool:
        """The message says how the patient feels and nothing of what is wrong."""
        vague = self.settings.vague_words
        # word by word: most messages stop at their first word, and a findall of the whole
        # message read every word of it first
        return all(map(vague.__contains__, map(_GROUP, _WORD_RE.finditer(message.analysed.folded))))

    def with_models(self, triage_model: LinearModel | None, intent_model: LinearModel | None) -> "Understanding":
        return replace(self, triage_model=triage_model, intent_model=intent_model)

    def without_models(self) -> "Understanding":
        return self.with_models(None, None)


class _Features:
    """The learned models' features of one message, counted on first use."""

    __slots__ = ("_message", "_counts")

    def __init__(self, message: Message) -> None:
        self._message = message
        self._counts: Mapping[str, int] | None = None

    @property
    def counts(self) -> Mapping[str, int]:
        if self._counts is None:
            self._counts = features(self._message)
        return self._counts


def load_models(extra_dirs: tuple[Path, ...]) -> tuple[LinearModel, LinearModel]:
    """The package's models, or a clinic's own (retrained on its labeled sets) from its directory."""
    def find(name: str) -> Path:
        for d in reversed(extra_dirs):
            if (Path(d) / name).exists():
                return Path(d) / name
        return DATA_DIR / name

    return (load_model(find("triage_model.json"), classes=TRIAGE_LEVELS),
            load_model(find("intent_model.json"), classes=INTENTS))


@lru_cache(maxsize=8)
def load_understanding(extra_dirs: tuple[Path, ...] = ()) -> Understanding:
    with building():  # one pause of the collector for the lexicon, the rules and the models
        lexicon = load_lexicon(extra_dirs)
        triage_model, intent_model = load_models(extra_dirs)
        return Understanding(lexicon, load_triage(lexicon), triage_model, intent_model,
                             LearnedSettings.from_raw(lexicon.raw["learned"]))
