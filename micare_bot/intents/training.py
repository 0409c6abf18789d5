"""Training the learned second opinion (learned.py) from labeled utterance files.

Offline only: ``micare-bot train-models`` runs this with scikit-learn (the
``train`` extra); the service and the core never import it. The trainer
reads the same features the core computes (``learned.feature_text``), so what
was trained is exactly what is scored.

``cross_validate`` answers the question that matters for a model trained on
our own test sets: how well does it do on an author it has never seen? Each
file is held out in turn, a model is trained on the others, and the held-out
file is scored by the rules alone and by the rules with the model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ..evaluate import InputError, evaluate, read_jsonl
from ..models import INTENTS, TRIAGE_LEVELS
from .learned import FORMAT, LinearModel, feature_text

if TYPE_CHECKING:
    from . import Understanding

# Inverse regularisation strength: chosen by leave-one-author-out runs (README: Figures).
C = 30.0


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    triage: str


def read_examples(paths: Iterable[Path]) -> list[Example]:
    """Labeled lines, read as `evaluate` reads them (a bad line is an InputError naming it)."""
    out: list[Example] = []
    for path in paths:
        with path.open(encoding="utf-8") as stream:
            try:
                records = list(read_jsonl(stream, ("text", "intent", "triage")))
            except InputError as exc:
                raise InputError(f"{path.name}: {exc}") from exc
        for record in records:
            intent, triage = record["intent"], record["triage"]
            if intent not in INTENTS or triage not in TRIAGE_LEVELS:
                raise InputError(f"{path.name}: id {record.get('id')}: unknown label {intent!r} / {triage!r}")
            out.append(Example(str(record["text"]), intent, triage))
    return out


def _fit(texts: Sequence[str], labels: Sequence[str], target: str, provenance: Mapping[str, Any]) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectoriser = TfidfVectorizer(analyzer=str.split, sublinear_tf=True)
    x = vectoriser.fit_transform(texts)
    model = LogisticRegression(C=C, max_iter=5000).fit(x, labels)
    classes = [str(c) for c in model.classes_]
    coef = model.coef_
    feats = {
        name: [round(float(vectoriser.idf_[j]), 6), *(round(float(coef[k, j]), 6) for k in range(len(classes)))]
        for name, j in sorted(vectoriser.vocabulary_.items())
    }
    return {
        "format": FORMAT,
        "kind": "tf-idf (stems, {drug}/{test} slots, in-clause bigrams; sublinear tf, l2) + multinomial logistic regression",
        "target": target,
        "classes": classes,
        "intercept": [round(float(b), 6) for b in model.intercept_],
        "params": {"C": C},
        "trained_on": dict(provenance),
        "features": feats,
    }


def train(u: "Understanding", examples: Sequence[Example], provenance: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Exported triage and intent models (JSON-ready dicts) trained on `examples`."""
    return train_features([feature_text(u.message(e.text)) for e in examples], examples, provenance)


def train_features(texts: Sequence[str], examples: Sequence[Example],
                   provenance: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    # intents are learned from routine lines only: an urgent line's intent label is
    # mostly "symptom" whatever it asks, and is never acted on (it is redirected)
    routine = [(t, e.intent) for t, e in zip(texts, examples) if e.triage == "routine"]
    return {
        "triage": _fit(texts, [e.triage for e in examples], "triage", provenance),
        "intent": _fit([t for t, _ in routine], [i for _, i in routine], "intent", provenance),
    }


def provenance(paths: Sequence[Path], examples: Sequence[Example]) -> dict[str, Any]:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return {"files": [p.name for p in paths], "lines": len(examples), "sha256": digest.hexdigest()[:16]}


def write_model(name: str, data: Mapping[str, Any], out_dir: Path) -> Path:
    path = out_dir / f"{name}_model.json"
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def cross_validate(u: "Understanding", paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Per file: figures with the rules alone and with a model trained on the other files."""
    per_file = {p: read_examples([p]) for p in paths}
    texts = {p: [feature_text(u.message(e.text)) for e in per_file[p]] for p in paths}  # once, not per fold
    rows = []
    for held in paths:
        others = [e for p in paths if p != held for e in per_file[p]]
        models = train_features([t for p in paths if p != held for t in texts[p]], others, {"held_out": held.name})
        swapped = u.with_models(
            LinearModel.from_dict(models["triage"], where="cv", classes=TRIAGE_LEVELS),
            LinearModel.from_dict(models["intent"], where="cv", classes=INTENTS))
        records = [{"id": str(i), "text": e.text, "intent": e.intent, "triage": e.triage}
                   for i, e in enumerate(per_file[held])]
        row: dict[str, Any] = {"file": held.name, "lines": len(records)}
        for label, understanding in (("rules", u.without_models()), ("rules+model", swapped)):
            report = evaluate(understanding, records)
            row[label] = {
                "intent": round(report.intent_accuracy, 4),
                "urgent": round(report.recall_rate(("emergency", "crisis", "poison")), 4),
                "same_day": round(report.recall_rate(("same_day",)), 4),
                "over_triage": round(report.over_triage_rate, 4),
            }
        rows.append(row)
    return rows


def format_cross_validation(rows: Sequence[Mapping[str, Any]]) -> str:
    head = (f"{'held-out file':34} {'lines':>5}  {'intent':>13}  {'urgent E+C+P':>13}  "
            f"{'same day':>13}  {'over-triage':>13}")
    lines = [head, f"{'':34} {'':>5}  " + "  ".join(f"{'rules -> +model':>13}" for _ in range(4))]
    for row in rows:
        a, b = row["rules"], row["rules+model"]
        cells = "  ".join(f"{a[k] * 100:5.1f} -> {b[k] * 100:5.1f}" for k in ("intent", "urgent", "same_day", "over_triage"))
        lines.append(f"{row['file']:34} {row['lines']:>5}  {cells}")
    return "\n".join(lines)
