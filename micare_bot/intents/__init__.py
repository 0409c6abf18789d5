"""Understanding a patient message: triage, intent and the words behind them.

Everything here is pure and synchronous: text in, plain data out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..models import Classification, TriageResult
from .classifier import CLARIFY_BELOW, classify
from .lexicon import Lexicon, LexiconError, Message, load_lexicon
from .triage import Triage, load_triage

__all__ = ["CLARIFY_BELOW", "LexiconError", "Reading", "Understanding", "load_understanding"]


@dataclass(frozen=True)
class Reading:
    message: Message
    intent: Classification
    triage: TriageResult


@dataclass(frozen=True)
class Understanding:
    """The lexicon and the compiled red-flag rules, loaded once per process."""

    lexicon: Lexicon
    rules: Triage

    @property
    def version(self) -> str:
        return self.lexicon.version

    def message(self, text: str) -> Message:
        return self.lexicon.message(text)

    def read(self, text: str, *, earlier: str = "") -> Reading:
        """Intent and triage of a message; `earlier` is what the patient said before in
        this conversation, screened together with it (UTI symptoms in one answer and a
        fever in the next add up)."""
        message = self.lexicon.message(text)
        intent = classify(message, self.lexicon)
        triage = self.rules.assess(message)
        if not triage.urgent and earlier:
            triage = self.rules.assess(self.lexicon.message(f"{earlier}. {text}"))
        if triage.urgent and intent.intent == "other":
            # an urgent message that asks for nothing else is about a symptom
            intent = Classification("symptom", intent.confidence, intent.scores)
        return Reading(message, intent, triage)

    def triage(self, message: Message) -> TriageResult:
        return self.rules.assess(message)

    def classify(self, message: Message) -> Classification:
        return classify(message, self.lexicon)


@lru_cache(maxsize=8)
def load_understanding(extra_dirs: tuple[Path, ...] = ()) -> Understanding:
    lexicon = load_lexicon(extra_dirs)
    return Understanding(lexicon, load_triage(lexicon))
