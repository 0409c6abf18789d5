"""Intent classification: weighted lexicon phrases, counted once per message."""

from __future__ import annotations

from ..models import Classification
from .lexicon import Lexicon, Message

# Confidence = top / (top + runner-up + SMOOTHING): one strong phrase alone
# (weight 4) gives 0.67, two competing strong phrases give 0.4.
SMOOTHING = 2.0
CLARIFY_BELOW = 0.5


def classify(message: Message, lexicon: Lexicon) -> Classification:
    """The most likely intent and how sure we are (0..1)."""
    scores: dict[str, float] = {}
    seen: set[int] = set()
    for lattice in message.lattices:
        for match in lexicon.intent_index.find(lattice):
            phrase = match.payload
            if phrase.entry in seen:
                continue
            seen.add(phrase.entry)
            scores[phrase.intent] = scores.get(phrase.intent, 0.0) + phrase.weight
    if not scores:
        return Classification("other", 0.0, {})
    order = lexicon.tie_order
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], order.index(kv[0]) if kv[0] in order else 99))
    top_intent, top = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = round(top / (top + runner_up + SMOOTHING), 3)
    return Classification(top_intent, confidence, dict(ranked))
