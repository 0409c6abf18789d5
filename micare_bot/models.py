"""Value types shared by the conversational core and the edges.

Everything here is plain, immutable data (except the conversation state, which
round-trips through ``to_dict``/``from_dict`` so a server can store it between
turns). Nothing in this module does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, Mapping, Union

INTENTS: tuple[str, ...] = ("appointment", "refill", "results", "immunization_copy", "symptom", "other")
TRIAGE_LEVELS: tuple[str, ...] = ("emergency", "crisis", "poison", "same_day", "routine")
URGENT_LEVELS: tuple[str, ...] = ("emergency", "crisis", "poison", "same_day")
# the levels that send the patient to 911, 988 or Poison Control now (same day is the nurse line)
CALL_NOW_LEVELS: tuple[str, ...] = ("emergency", "crisis", "poison")
STATUSES: tuple[str, ...] = ("collecting", "confirming", "filed", "redirected", "cancelled")
CLOSED_STATUSES: frozenset[str] = frozenset({"filed", "redirected", "cancelled"})

Status = Literal["collecting", "confirming", "filed", "redirected", "cancelled"]


@dataclass(frozen=True)
class Dependent:
    name: str
    age: int | None = None


@dataclass(frozen=True)
class PatientContext:
    """What the core may know about the person typing."""

    name: str
    age: int | None = None
    medications: tuple[str, ...] = ()
    dependents: tuple[Dependent, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PatientContext":
        return cls(
            name=str(data.get("name", "")),
            age=data.get("age"),
            medications=tuple(str(m) for m in data.get("medications") or ()),
            dependents=tuple(
                Dependent(name=str(d["name"]), age=d.get("age")) for d in data.get("dependents") or ()
            ),
        )

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else ""


@dataclass(frozen=True)
class ClinicContext:
    """Clinic settings the conversation needs: names and numbers it tells patients."""

    name: str = "your clinic"
    emergency_number: str = "911"
    crisis_line: str = "988, then press 1"
    crisis_text: str = "838255"
    poison_control: str = "1-800-222-1222"
    nurse_line: str = "1-800-874-2273, option 1"
    appointment_line: str = "the clinic's appointment line"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ClinicContext":
        known = {k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Classification:
    intent: str
    confidence: float
    scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TriageResult:
    level: str
    rule: str | None = None  # id of the red-flag rule that fired; never the patient's words

    @property
    def urgent(self) -> bool:
        return self.level != "routine"


@dataclass(frozen=True)
class Reply:
    text: str
    quick_replies: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "quick_replies": list(self.quick_replies)}


# --- effects: what the edge must carry out, in one transaction -----------------


@dataclass(frozen=True)
class FileRequest:
    """File one pre-structured request into the care team's queue."""

    intent: str
    patient: str  # "self" or a dependent's first name
    fields: Mapping[str, str]
    parsed: Mapping[str, str]  # ISO dates found in time fields, keyed by field name
    patient_words: tuple[str, ...]  # every message the patient typed in this conversation
    # the urgency level the patient was asked about and said no to ("emergency", ...):
    # staff see that a word model thought the message might be urgent
    safety_checked: str | None = None
    # the patient answered that question "not sure" (a same-day level only: they were given
    # the nurse line and the request went on); staff should call them first
    safety_unsure: bool = False


@dataclass(frozen=True)
class Redirect:
    """Refuse and redirect: urgent care is needed; the conversation is closed."""

    level: str
    rule: str | None


@dataclass(frozen=True)
class Cancelled:
    """The patient gave up; nothing is filed."""


Effect = Union[FileRequest, Redirect, Cancelled]


@dataclass
class ConversationState:
    """Everything needed to continue a conversation. Round-trips through JSON."""

    status: Status = "collecting"
    intent: str | None = None
    triage: str = "routine"
    awaiting: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    parsed: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)
    turns: int = 0
    pending_text: str | None = None  # the opening kept while we clarify the intent
    guess: str | None = None  # the classifier's best guess while we clarify
    # A safety question the word model raised: "level" asked about, "text" held back
    # and "resume" (what was awaited) while asking; "cleared" once the patient said no
    safety: dict[str, str] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "intent": self.intent,
            "triage": self.triage,
            "awaiting": self.awaiting,
            "fields": dict(self.fields),
            "parsed": dict(self.parsed),
            "attempts": dict(self.attempts),
            "words": list(self.words),
            "turns": self.turns,
            "pending_text": self.pending_text,
            "guess": self.guess,
            "safety": dict(self.safety),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ConversationState":
        status = data.get("status", "collecting")
        if status not in STATUSES:
            raise ValueError(f"unknown conversation status {status!r}")
        return cls(
            status=status,
            intent=data.get("intent"),
            triage=data.get("triage", "routine"),
            awaiting=data.get("awaiting"),
            fields=dict(data.get("fields") or {}),
            parsed=dict(data.get("parsed") or {}),
            attempts={k: int(v) for k, v in (data.get("attempts") or {}).items()},
            words=list(data.get("words") or []),
            turns=int(data.get("turns", 0)),
            pending_text=data.get("pending_text"),
            guess=data.get("guess"),
            safety={str(k): str(v) for k, v in (data.get("safety") or {}).items()},
        )

    def copy(self) -> "ConversationState":
        return replace(
            self,
            fields=dict(self.fields),
            parsed=dict(self.parsed),
            attempts=dict(self.attempts),
            words=list(self.words),
            safety=dict(self.safety),
        )


@dataclass(frozen=True)
class TurnResult:
    state: ConversationState
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The SPEC §6 turn result, less the ids only the edge knows."""
        return {
            "status": self.state.status,
            "intent": self.state.intent,
            "triage": self.state.triage,
            "awaiting": self.state.awaiting,
            "fields": dict(self.state.fields),
            "messages": [r.to_dict() for r in self.replies],
        }
