"""The one entry point the edges call: a patient turn in, a turn result out.

Pure and synchronous: no I/O, no clock (``now`` is an argument), no
randomness. The service, the terminal chat and the replay tool all run this.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from .flows.engine import Engine
from .flows.prompts import Prompts
from .flows.spec import cached_flows
from .intents import load_understanding
from .models import ClinicContext, ConversationState, PatientContext, TurnResult

__all__ = ["Engine", "greeting", "handle", "load_engine"]


@lru_cache(maxsize=4)
def load_engine(lexicon_dirs: tuple[Path, ...] = (), prompts_dir: Path | None = None) -> Engine:
    """The engine for the package data plus a clinic's lexicon and prompt directories."""
    understanding = load_understanding(lexicon_dirs)
    return Engine(understanding, cached_flows(understanding.lexicon), Prompts(prompts_dir))


def greeting(patient: PatientContext, clinic: ClinicContext, *, dependent: str | None = None) -> TurnResult:
    """The first bot message of a new conversation."""
    return load_engine().greeting(patient, clinic, dependent=dependent)


def handle(state: ConversationState | None, patient: PatientContext, text: str, *,
           clinic: ClinicContext, now: datetime) -> TurnResult:
    """One patient turn: (state, context, text) -> (new state, replies, effects)."""
    return load_engine().handle(state, patient, text, clinic=clinic, now=now)
