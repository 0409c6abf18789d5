"""Clinic test tools (SPEC §5): classify, evaluate and replay labeled JSONL files.

Pure functions over parsed records; the CLI does the reading and printing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, Sequence, TextIO

from .flows.engine import Engine
from .intents import LEARNED_RULE, Understanding
from .models import CALL_NOW_LEVELS, INTENTS, TRIAGE_LEVELS, URGENT_LEVELS, ClinicContext, PatientContext

ENUM_FIELDS = frozenset({"visit_type", "purpose", "delivery", "severity"})
MAX_REPLAY_TURNS = 20


class InputError(ValueError):
    """A line of a test file is not valid JSON or misses a required key."""


def read_jsonl(stream: TextIO, required: Sequence[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InputError(f"line {number}: expected a JSON object")
        missing = [k for k in required if k not in record]
        if missing:
            raise InputError(f"line {number}: missing {', '.join(missing)}")
        yield record


# -- classify / evaluate ----------------------------------------------------------


def classify_record(u: Understanding, record: Mapping[str, Any]) -> dict[str, Any]:
    reading = u.read(str(record["text"]))
    return {
        "id": record.get("id"),
        "intent": reading.intent.intent,
        "triage": reading.triage.level,
        "confidence": reading.intent.confidence,
    }


@dataclass(frozen=True)
class EvaluationReport:
    total: int
    routine: int
    intent_correct: int
    confusion: Mapping[str, Mapping[str, int]]  # gold -> predicted -> count (routine lines)
    recall: Mapping[str, tuple[int, int, int]]  # level -> (exact, escalated to another urgent level, total)
    over_triage: int  # routine lines flagged urgent
    misclassified: Sequence[Mapping[str, Any]]
    lexicon_version: str
    # of those, raised by the word model alone: the bot asks one safety question, not refuses
    over_triage_asked: int = 0

    @property
    def intent_accuracy(self) -> float:
        return self.intent_correct / self.routine if self.routine else 1.0

    @property
    def over_triage_rate(self) -> float:
        return self.over_triage / self.routine if self.routine else 0.0

    def recall_rate(self, levels: Iterable[str], *, exact: bool = False) -> float:
        hit = total = 0
        for level in levels:
            exact_hits, other_urgent, n = self.recall.get(level, (0, 0, 0))
            hit += exact_hits if exact else exact_hits + other_urgent
            total += n
        return hit / total if total else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.total,
            "lexicon_version": self.lexicon_version,
            "intent": {
                "routine_lines": self.routine,
                "accuracy": round(self.intent_accuracy, 4),
                "confusion": {g: dict(p) for g, p in self.confusion.items()},
            },
            "triage": {
                "recall": {
                    level: {"exact": e, "flagged_urgent": e + o, "total": n,
                            "recall": round((e + o) / n, 4) if n else None,
                            "exact_recall": round(e / n, 4) if n else None}
                    for level, (e, o, n) in self.recall.items()
                },
                "emergency_crisis_poison_recall": round(self.recall_rate(("emergency", "crisis", "poison")), 4),
                "over_triage": {"routine_flagged": self.over_triage, "rate": round(self.over_triage_rate, 4),
                                "asked_first": self.over_triage_asked},
            },
            "misclassified": list(self.misclassified),
        }


def evaluate(u: Understanding, records: Iterable[Mapping[str, Any]]) -> EvaluationReport:
    total = routine = correct = over = asked = 0
    confusion: dict[str, Counter[str]] = {}
    recall: dict[str, list[int]] = {level: [0, 0, 0] for level in URGENT_LEVELS}
    wrong: list[dict[str, Any]] = []
    for record in records:
        total += 1
        gold_intent, gold_triage = record.get("intent"), record.get("triage")
        if gold_triage not in TRIAGE_LEVELS:
            raise InputError(f"id {record.get('id')}: unknown triage label {gold_triage!r}")
        reading = u.read(str(record["text"]))
        level = reading.triage.level
        problems = []
        if gold_triage == "routine":
            routine += 1
            predicted = reading.intent.intent
            confusion.setdefault(str(gold_intent), Counter())[predicted] += 1
            if predicted == gold_intent:
                correct += 1
            else:
                problems.append("intent")
            if level != "routine":
                over += 1
                asked += reading.triage.rule == LEARNED_RULE
                problems.append("over_triage")
        else:
            counts = recall[gold_triage]
            counts[2] += 1
            if level == gold_triage:
                counts[0] += 1
            elif level in CALL_NOW_LEVELS or (gold_triage == "same_day" and level != "routine"):
                # a 911 / 988 / Poison Control case sent to another of the three still gets
                # help now; one sent to the nurse line for "today" is a miss
                counts[1] += 1
                problems.append("triage_level")
            else:
                problems.append("missed_urgent")
        if problems:
            wrong.append({
                "id": record.get("id"), "text": record["text"], "problems": problems,
                "intent": gold_intent, "predicted_intent": reading.intent.intent,
                "confidence": reading.intent.confidence,
                "triage": gold_triage, "predicted_triage": level, "rule": reading.triage.rule,
            })
    severity = {"missed_urgent": 0, "over_triage": 1, "triage_level": 2, "intent": 3}
    wrong.sort(key=lambda w: min(severity[p] for p in w["problems"]))
    return EvaluationReport(
        total=total, routine=routine, intent_correct=correct,
        confusion={g: dict(c) for g, c in confusion.items()},
        recall={k: (v[0], v[1], v[2]) for k, v in recall.items() if v[2]},
        over_triage=over, misclassified=wrong, lexicon_version=u.version, over_triage_asked=asked,
    )


def format_report(report: EvaluationReport) -> str:
    lines = [f"Evaluated {report.total} lines (lexicon {report.lexicon_version})", ""]
    lines.append(f"Intent accuracy on routine lines: {report.intent_accuracy:.1%} "
                 f"({report.intent_correct}/{report.routine})")
    intents = [i for i in INTENTS if i in report.confusion or any(i in p for p in report.confusion.values())]
    if intents:
        width = max(len(i) for i in intents) + 2
        lines.append("Confusion matrix (rows: label, columns: predicted):")
        lines.append(" " * width + "".join(f"{i[:10]:>11}" for i in intents))
        for gold in intents:
            row = report.confusion.get(gold, {})
            lines.append(f"{gold:<{width}}" + "".join(f"{row.get(p, 0):>11}" for p in intents))
    lines.append("")
    lines.append("Triage recall (flagged urgent / exact level / total):")
    for level, (exact, other, n) in report.recall.items():
        lines.append(f"  {level:<10} {(exact + other) / n:6.1%}  {exact + other}/{n}  exact {exact}/{n}")
    lines.append(f"  emergency + crisis + poison: {report.recall_rate(('emergency', 'crisis', 'poison')):.1%}")
    lines.append(f"Over-triage (routine lines flagged urgent): {report.over_triage_rate:.1%} "
                 f"({report.over_triage}/{report.routine})"
                 + (f"; {report.over_triage_asked} of them by the word model alone, which asks one safety"
                    " question before redirecting" if report.over_triage_asked else ""))
    if report.misclassified:
        lines.append("")
        lines.append(f"Misclassified lines ({len(report.misclassified)}), most serious first:")
        for w in report.misclassified:
            lines.append(f"  [{w['id']}] {','.join(w['problems'])}: intent {w['intent']}->{w['predicted_intent']}, "
                         f"triage {w['triage']}->{w['predicted_triage']}: {w['text']}")
    return "\n".join(lines)


# -- replay ----------------------------------------------------------------------------


def replay_script(engine: Engine, script: Mapping[str, Any], *, clinic: ClinicContext,
                  now: datetime) -> dict[str, Any]:
    """Play the patient of one conversation script against the real engine."""
    patient = PatientContext.from_dict(script.get("patient") or {})
    answers = dict(script.get("answers") or {})
    used: set[str] = set()
    transcript: list[dict[str, str]] = []
    state = None
    text = str(script.get("opening", ""))
    turns = 0
    while True:
        result = engine.handle(state, patient, text, clinic=clinic, now=now)
        state = result.state
        turns += 1
        transcript.append({"from": "patient", "text": text})
        transcript.extend({"from": "bot", "text": r.text} for r in result.replies)
        if state.closed or turns >= MAX_REPLAY_TURNS:
            break
        awaiting = state.awaiting or ""
        if awaiting in answers and awaiting not in used:
            text = str(answers[awaiting])
            used.add(awaiting)
        elif awaiting == "confirm":
            text = "yes"
        else:
            text = "I don't know"
    outcome = state.status if state.closed else "stuck"
    fields = dict(state.fields) if outcome == "filed" else {}
    out = {
        "id": script.get("id"),
        "outcome": outcome,
        "intent": state.intent,
        "triage": state.triage,
        "fields": fields,
        "turns": turns,
    }
    out["passed"] = _passed(out, script.get("expect") or {})
    out["transcript"] = transcript
    return out


def _passed(result: Mapping[str, Any], expect: Mapping[str, Any]) -> bool:
    for key in ("outcome", "intent", "triage"):
        if key in expect and result.get(key) != expect[key]:
            return False
    fields = result.get("fields") or {}
    for name, want in (expect.get("fields") or {}).items():
        got = fields.get(name)
        if got is None:
            return False
        if name in ENUM_FIELDS:
            if str(got) != str(want):
                return False
        elif str(want).lower() not in str(got).lower():
            return False
    return True


def replay_summary(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    passed = sum(1 for r in results if r["passed"])
    outcomes = Counter(r["outcome"] for r in results)
    return {
        "summary": {
            "scripts": len(results),
            "passed": passed,
            "failed": len(results) - passed,
            "pass_rate": round(passed / len(results), 4) if results else None,
            "outcomes": dict(outcomes),
            "failed_ids": [r["id"] for r in results if not r["passed"]],
        }
    }
