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

    def read(self, text: str) -> Reading:
        message = self.lexicon.message(text)
        return Reading(message, classify(message, self.lexicon), self.rules.assess(message))

    def triage(self, message: Message) -> TriageResult:
        return self.rules.assess(message)

    def classify(self, message: Message) -> Classification:
        return classify(message, self.lexicon)


@lru_cache(maxsize=8)
def load_understanding(extra_dirs: tuple[Path, ...] = ()) -> Understanding:
    lexicon = load_lexicon(extra_dirs)
    return Understanding(lexicon, load_triage(lexicon))
