"""A learned second opinion: a linear text model over the analysed message.

The red-flag rules (triage.py) and the phrase lexicon (classifier.py) are the
first, reviewable word. Every new author of a blind test set still writes
urgent messages no rule names yet; a model trained on all the labeled sets
catches most of those because it weighs every word the sets taught it, not
only the phrases someone wrote down. It may only raise triage, never lower it
(see ``Understanding.read``), and it shares the intent decision with the
lexicon.

The model is TF-IDF over the message's stems and in-clause stem bigrams (the
words after spelling correction and shorthand, so "cant breath" and "can't
breathe" are one feature; a medication or test name is its slot, {drug} or
{test}) feeding a multinomial logistic regression. It is
trained offline by ``micare-bot train-models`` (scikit-learn, training.py)
and shipped as JSON beside the lexicon; scoring here is pure Python: a few
dozen dictionary look-ups and one softmax.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .lexicon import DRUG, TEST, LexiconError, Message

FORMAT = 1
SLOTS = (DRUG, TEST)


def tokens(message: Message) -> list[list[str]]:
    """Per clause, the stems with every medication or test name replaced by its slot.

    Without the slots the model learns topics instead of urgency: most labeled
    lines that name Coumadin are about bleeding on it, so "my Coumadin
    prescription needs renewing" would look urgent; "chest x-ray" would count
    as "chest".
    """
    out = []
    for stems, lattice, plain in zip(message.clauses, message.lattices, message.plain_tokens()):
        if plain is not None or max(map(len, lattice), default=1) == 1:
            out.append(list(stems))  # no drug or test name: the stems are the tokens
            continue
        clause, i = [], 0
        while i < len(lattice):
            alts = lattice[i]
            # most words have no reading but their own: spare them the search for a slot
            slots = [alt for alt in alts[1:] if alt[0] in SLOTS] if len(alts) > 1 else None
            if slots:
                slot, length = max(slots, key=lambda alt: alt[1])
                clause.append(slot)
                i += length
            else:
                clause.append(alts[0][0])
                i += 1
        out.append(clause)
    return out


def features(message: Message) -> Counter[str]:
    """Tokens and token bigrams within a clause (a bigram never spans a comma or full stop)."""
    runs: list[Iterable[str]] = []
    for clause in tokens(message):
        runs.append(clause)
        runs.append(map("_".join, zip(clause, clause[1:])))  # "a_b", without a generator frame
    # one count over all of them (in the same order, which is the order the models add up
    # the features in): Counter.update is a Python-level call, two a clause added up
    return Counter(chain.from_iterable(runs))


def feature_text(message: Message) -> str:
    """The features as one space-separated string: what the trainer's vectoriser reads."""
    return " ".join(f for f, n in features(message).items() for _ in range(n))


@dataclass(frozen=True)
class LinearModel:
    """TF-IDF (sublinear tf, L2 norm) and multinomial logistic regression, as exported."""

    target: str
    classes: tuple[str, ...]
    intercept: tuple[float, ...]
    # feature -> (idf, idf * coefficient for each class): the norm needs the idf alone
    weights: Mapping[str, tuple[float, tuple[float, ...]]]
    trained_on: Mapping[str, Any] = field(default_factory=dict)
    digest: str = ""  # of the exported file: part of the understanding's version

    def probabilities(self, message: Message, *, shift: Mapping[str, float] | None = None) -> dict[str, float]:
        """P(class | message) for every class; a message with no known feature gets the priors.
        `shift` adds to a class's log-odds: a prior correction for traffic whose mix differs
        from the training sets'."""
        return self.score(features(message), shift=shift)

    def score(self, feats: Mapping[str, int], *, shift: Mapping[str, float] | None = None) -> dict[str, float]:
        """`probabilities` for features already counted (one count serves both models)."""
        rows: list[tuple[float, ...]] = []
        norm = 0.0
        weight_of = self.weights.get  # most features are unknown: keep their cost to one look-up
        for name, count in feats.items():
            known = weight_of(name)
            if known is None:
                continue
            idf, row = known
            if count == 1:
                norm += idf * idf
                rows.append(row)
            else:
                tf = 1.0 + math.log(count)
                norm += (tf * idf) ** 2
                rows.append(tuple(tf * w for w in row))
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        sums = map(sum, zip(*rows)) if rows else (0.0 for _ in self.classes)
        logits = [v * scale + b for v, b in zip(sums, self.intercept)]
        if shift:
            logits = [v + shift.get(c, 0.0) for v, c in zip(logits, self.classes)]
        top = max(logits)
        exps = [math.exp(v - top) for v in logits]
        total = sum(exps)
        return {c: e / total for c, e in zip(self.classes, exps)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str, classes: Sequence[str],
                  digest: str = "") -> "LinearModel":
        """Checks the exported model against the labels it must speak (fails at start-up, not mid-chat)."""
        if data.get("format") != FORMAT:
            raise LexiconError(f"{where}: unknown model format {data.get('format')!r}")
        got = tuple(data.get("classes") or ())
        if sorted(got) != sorted(classes):
            raise LexiconError(f"{where}: classes {list(got)} are not {sorted(classes)}")
        intercept = tuple(float(v) for v in data.get("intercept") or ())
        if len(intercept) != len(got):
            raise LexiconError(f"{where}: {len(intercept)} intercepts for {len(got)} classes")
        weights: dict[str, tuple[float, tuple[float, ...]]] = {}
        for name, row in (data.get("features") or {}).items():
            if not isinstance(row, list) or len(row) != len(got) + 1:
                raise LexiconError(f"{where}: feature {name!r} needs an idf and {len(got)} weights")
            idf = float(row[0])
            weights[str(name)] = (idf, tuple(idf * float(w) for w in row[1:]))
        if not weights:
            raise LexiconError(f"{where}: the model has no features")
        return cls(str(data.get("target")), got, intercept, weights, dict(data.get("trained_on") or {}), digest)


def load_model(path: Path, *, classes: Sequence[str]) -> LinearModel:
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except FileNotFoundError as exc:
        raise LexiconError(f"missing model file {path} (make models)") from exc
    except json.JSONDecodeError as exc:
        raise LexiconError(f"{path}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise LexiconError(f"{path}: expected a JSON object")
    return LinearModel.from_dict(data, where=str(path), classes=classes,
                                 digest=hashlib.sha256(raw).hexdigest()[:12])
