"""Shared fixtures for the pure core: the engine, demo patients, a fixed clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable, Mapping

import pytest

from micare_bot.conversation import load_engine
from micare_bot.flows.engine import Engine
from micare_bot.models import ClinicContext, ConversationState, Dependent, PatientContext, TurnResult

ROOT = Path(__file__).resolve().parents[1]
# the shared examples sit beside the checkout (/work/main -> /work/shared), also for a worktree one level deeper
SHARED = next((p / "shared" / "examples" for p in ROOT.parents if (p / "shared" / "examples").is_dir()),
              ROOT.parent / "shared" / "examples")
DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 11, 18, 10, 30)  # a Wednesday morning
CLINIC = ClinicContext(name="Test Clinic", nurse_line="1-800-874-2273, option 1")


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The real engine on the package's data files and prompt templates."""
    return load_engine()


@pytest.fixture(scope="session")
def alarmed_engine() -> Engine:
    """The real engine with a word model that finds "zorblax" an emergency, "glorbin" a
    crisis and "zindrox" a same-day matter: words no rule or lexicon phrase knows, so only
    the model raises them."""
    from micare_bot.intents.learned import LinearModel
    from micare_bot.models import TRIAGE_LEVELS

    def push(level: str) -> list[float]:
        return [1.0, *(30.0 if c == level else 0.0 for c in TRIAGE_LEVELS)]

    model = LinearModel.from_dict({"format": 1, "target": "triage", "classes": list(TRIAGE_LEVELS),
                                   "intercept": [5.0 if c == "routine" else 0.0 for c in TRIAGE_LEVELS],
                                   "features": {"zorblax": push("emergency"), "glorbin": push("crisis"),
                                                "zindrox": push("same_day")}},
                                  where="test", classes=TRIAGE_LEVELS)
    real = load_engine()  # not the `engine` fixture: the edge tests' `engine` is the database
    return Engine(real.u.with_models(model, real.u.intent_model), real.flows, real.prompts)


@pytest.fixture
def jordan() -> PatientContext:
    """A patient with three medications and no dependents."""
    return PatientContext("Jordan Avery", 37, ("Losartan 50 mg tablet", "Rosuvastatin 10 mg tablet",
                                               "Glipizide 5 mg tablet"))


@pytest.fixture
def maria() -> PatientContext:
    """A parent with two children on the account."""
    return PatientContext("Maria Santos", 32, ("Escitalopram 10 mg tablet", "Norethindrone 0.35 mg tablet"),
                          (Dependent("Lucas", 5), Dependent("Sophie", 1)))


class Chat:
    """Drives one conversation turn by turn, keeping the state like an edge would."""

    def __init__(self, engine: Engine, patient: PatientContext) -> None:
        self.engine = engine
        self.patient = patient
        self.state: ConversationState | None = None
        self.last: TurnResult | None = None

    def say(self, text: str) -> TurnResult:
        # Round-trip the state through JSON every turn, as the server does.
        state = ConversationState.from_dict(self.state.to_dict()) if self.state else None
        self.last = self.engine.handle(state, self.patient, text, clinic=CLINIC, now=NOW)
        self.state = self.last.state
        return self.last

    def answer_until(self, stop: str, answers: Mapping[str, str], *, otherwise: str = "I don't know") -> None:
        """Answer each question by the field awaited, from `answers` (else `otherwise`),
        until `stop` is awaited or the conversation ends."""
        while self.state is not None and self.state.awaiting not in (stop, None):
            self.say(answers.get(self.state.awaiting or "", otherwise))

    @property
    def text(self) -> str:
        assert self.last is not None
        return " ".join(r.text for r in self.last.replies)


@pytest.fixture
def chat(engine: Engine) -> Callable[[PatientContext], Chat]:
    """Start a conversation for a patient."""
    return lambda patient: Chat(engine, patient)
