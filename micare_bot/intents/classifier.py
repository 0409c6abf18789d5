"""Intent classification: weighted lexicon phrases, counted once per message."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

from ..models import Classification
from .lexicon import IntentPhrase, Lexicon, Message
from .phrases import spans

# Confidence = top / (top + runner-up + SMOOTHING): one explicit request alone
# (weight 8) gives 0.8, two competing requests of the same weight about 0.44.
SMOOTHING = 2.0
CLARIFY_BELOW = 0.5

# An intent's score is its strongest entry plus DECAY times the next, DECAY**2
# times the one after, and so on: corroborating phrases still count, but a
# pile of topic words ("cough", "fever", "week") cannot outvote one explicit
# request ("can I get in"). See the weight tiers in intents.yaml.
DECAY = 0.6

# Symptoms the patient says they do NOT have ("no fever, just need a refill")
# are common in requests of every kind; a symptom phrase right after one of
# these words counts for nothing.
NEGATABLE = frozenset({"symptom"})
_NEGATORS = {"no": 2, "without": 2, "nor": 2, "never": 1, "not": 1, "denies": 2, "zero": 2, "sin": 2}


def _negated(lattice: Sequence[Sequence[tuple[str, int]]], start: int) -> bool:
    """Whether the words just before `start` deny what follows ("no fever")."""
    for back in (1, 2):
        if start - back < 0:
            break
        reach = _NEGATORS.get(lattice[start - back][0][0])
        if reach is not None and reach >= back:
            return True
    return False


# "a question that's not really about appointments or meds", "not an appointment
# question": a request named to be ruled out is no evidence of it.
_DENIAL_FILLERS = frozenset({"realli", "really", "just", "even", "actual", "actually", "exactli", "exactly", "quit"})
_DENIAL_LINKS = frozenset({"a", "an", "the", "my", "his", "her", "our", "their", "any", "or", "and"})
_DENIAL_REACH = 6


def _topic_denied(lattice: Sequence[Sequence[tuple[str, int]]], start: int) -> bool:
    """Whether the words before `start` say the message is not about what follows."""
    before = [alts[0][0] for alts in lattice[max(0, start - _DENIAL_REACH):start]]
    for i, word in enumerate(before):
        if word != "not":
            continue
        j = i + 1
        while j < len(before) and before[j] in _DENIAL_FILLERS:
            j += 1
        if j == len(before):
            return False
        rest = before[j + 1:]
        if before[j] == "about":
            # "not about appointments or meds": the named topics, joined, up to the phrase
            return len(rest) <= 1 or (len(rest) <= 4 and any(w in ("or", "and") for w in rest))
        if before[j] in ("a", "an"):
            return len(rest) <= 1 and all(w not in _DENIAL_LINKS for w in rest)
    return False


# "started to book an appt for my back but honestly I just need more meloxicam", "wanted
# an appt for... well really I just want to ask about this cough": a clause that opens with
# one of these turns from what came before, which then counts for less.
_PIVOTS = frozenset({"actual", "honest", "honestli", "realli"})
_PIVOT_LEAD = frozenset({"well", "but", "so", "ok", "okay", "oh", "hmm", "and"})
# ... and says what is wanted now ("honestly she's a worrier" turns from nothing)
_WANTING = frozenset({"need", "want", "wanna", "just", "rather", "prefer"})
BEFORE_PIVOT = 0.4


def pivot_clause(message: Message) -> int | None:
    """The first clause (after the first) that opens by turning from what came before to
    what is wanted now."""
    for c, stems in enumerate(message.analysed.stems):
        if c == 0:
            continue
        i = 0
        while i < len(stems) and stems[i] in _PIVOT_LEAD:
            i += 1
        if i < len(stems) and stems[i] in _PIVOTS and not _WANTING.isdisjoint(stems[i + 1:]):
            return c
    return None


def _combine(weights: list[float]) -> float:
    """Strongest evidence counts fully, each further entry less (DECAY per rank)."""
    total, factor = 0.0, 1.0
    for w in sorted(weights, reverse=True):
        total += w * factor
        factor *= DECAY
    return round(total, 3)


def _joint_spans(spans: Iterable[tuple[int, int, Any]]) -> Iterator[tuple[int, int, IntentPhrase]]:
    """(start, end, phrase) of the intent phrases in one clause of the triage index's scan
    (Triage.scan: each span's `intents`), in the order the intent index's own scan finds them."""
    for start, end, kinds in spans:
        for phrase in kinds.intents:
            yield start, end, phrase


def classify(message: Message, lexicon: Lexicon,
             scanned: Sequence[Iterable[tuple[int, int, Any]]] | None = None) -> Classification:
    """The most likely intent and how sure we are (0..1). `scanned`: the message's
    Triage.scan, when the caller has it (it holds the intent phrases too: no second walk)."""
    # Per intent, the best weight for each distinct span of words: entries
    # that match exactly the same words ("labs" as {test}, as "labs" and as
    # "lab") are one piece of evidence, not three.
    best: dict[tuple[str, int, int, int], float] = {}
    seen: set[int] = set()
    index = lexicon.intent_index
    for clause, (lattice, tokens) in enumerate(zip(message.lattices, message.plain_tokens())):
        denies = "not" in message.analysed.stems[clause]  # the only way into _topic_denied
        matches = spans(*index.scan(lattice, tokens)) if scanned is None else _joint_spans(scanned[clause])
        for start, end, phrase in matches:
            if phrase.entry in seen:
                continue
            if phrase.intent in NEGATABLE and _negated(lattice, start):
                continue  # "no fever": an absent symptom is no evidence of a symptom question
            if denies and _topic_denied(lattice, start):
                continue
            seen.add(phrase.entry)
            key = (phrase.intent, clause, start, end)
            best[key] = max(best.get(key, 0.0), phrase.weight)
    pivot = pivot_clause(message) if len(message.lattices) > 1 else None
    found: dict[str, list[float]] = {}
    for (intent, clause, *_), weight in best.items():
        if pivot is not None and clause < pivot:
            weight *= BEFORE_PIVOT
        found.setdefault(intent, []).append(weight)
    scores = {intent: _combine(weights) for intent, weights in found.items()}
    if not scores:
        return Classification("other", 0.0, {})
    order = lexicon.tie_order
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], order.index(kv[0]) if kv[0] in order else 99))
    top_intent, top = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = round(top / (top + runner_up + SMOOTHING), 3)
    return Classification(top_intent, confidence, dict(ranked))
