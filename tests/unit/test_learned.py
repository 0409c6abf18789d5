"""The learned second opinion: exported models score as trained, raise triage but never lower it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from micare_bot.intents import LEARNED_RULE, LearnedSettings, load_understanding
from micare_bot.intents.learned import LinearModel, feature_text, features, load_model
from micare_bot.intents.lexicon import DATA_DIR, LexiconError
from micare_bot.models import INTENTS, TRIAGE_LEVELS, TriageResult

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def u():
    """The package lexicon, rules and shipped models."""
    return load_understanding()


def _model(classes, weights, intercept=None, target="triage"):
    """A hand-written model: each feature pushes the classes it names."""
    rows = {name: [1.0, *(push.get(c, 0.0) for c in classes)] for name, push in weights.items()}
    return LinearModel.from_dict({"format": 1, "target": target, "classes": list(classes),
                                  "intercept": intercept or [0.0] * len(classes), "features": rows},
                                 where="test", classes=classes)


# "zorblax" is no word any rule or lexicon phrase knows: only the model can react to it
ALARM = _model(TRIAGE_LEVELS, {"zorblax": {"emergency": 30.0}, "xqzvv": {"same_day": 30.0}})
ZORBLAX = "the zorblax is back again today"
XQZVV = "the xqzvv is back again today"


class TestFeatures:
    def test_stems_and_bigrams_stay_inside_a_clause(self, u):
        """A bigram never joins the last word of one clause to the first of the next."""
        feats = features(u.message("chest hurts, breathing fine"))
        assert feats["chest_hurt"] == 1
        assert "hurt_breath" not in feats

    def test_feature_text_repeats_counts(self, u):
        """The trainer's vectoriser sees a repeated word as often as the scorer counts it."""
        assert feature_text(u.message("help help")).split().count("help") == 2


class TestScoring:
    def test_matches_scikit_learn(self, u):
        """An exported model gives the probabilities scikit-learn gives for the same message."""
        pytest.importorskip("sklearn")
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        from micare_bot.intents.training import _fit

        texts = ["my chest hurts bad", "refill my metformin", "can not breathe at all",
                 "need a physical", "want to die", "ate the dog's pills", "fever for days"]
        labels = ["emergency", "routine", "emergency", "routine", "crisis", "poison", "same_day"]
        feats = [feature_text(u.message(t)) for t in texts]
        exported = _fit(feats, labels, "triage", {})
        model = LinearModel.from_dict(exported, where="test", classes=TRIAGE_LEVELS)
        vec = TfidfVectorizer(analyzer=str.split, sublinear_tf=True)
        clf = LogisticRegression(C=exported["params"]["C"], max_iter=5000).fit(vec.fit_transform(feats), labels)
        probe = "my chest hurts and i can not breathe, want to die"
        expected = clf.predict_proba(vec.transform([feature_text(u.message(probe))]))[0]
        got = model.probabilities(u.message(probe))
        for cls, p in zip(clf.classes_, expected):
            assert got[cls] == pytest.approx(p, abs=1e-4)

    def test_unknown_words_give_the_priors(self, u):
        """A message of words the model never saw scores by the intercepts alone."""
        model = _model(TRIAGE_LEVELS, {"zorblax": {"emergency": 1.0}}, intercept=[0, 0, 0, 0, 3.0])
        p = model.probabilities(u.message("qwerty asdf"))
        assert max(p, key=p.get) == "routine"
        assert sum(p.values()) == pytest.approx(1.0)


class TestSecondOpinion:
    def test_raises_routine_to_the_model_level(self, u):
        """Words no rule names but the model learned as an emergency send the patient to 911."""
        assert u.rules.assess(u.message(ZORBLAX)).level == "routine"
        reading = u.with_models(ALARM, None).read(ZORBLAX)
        assert reading.triage == TriageResult("emergency", LEARNED_RULE)

    def test_short_answers_are_left_to_the_rules(self, u):
        """'myself' or 'I don't know' is too little text for a word model to judge."""
        assert u.with_models(ALARM, None).read("zorblax again").triage.level == "routine"

    def test_answers_to_pointed_questions_are_left_to_the_rules(self, u):
        """The engine asks for no second opinion on an answer such as a pharmacy or a date."""
        assert u.with_models(ALARM, None).read(ZORBLAX, second_opinion=False).triage.level == "routine"

    def test_never_lowers_a_rule(self, u):
        """A model sure that a message is routine cannot undo a red-flag rule."""
        calm = _model(TRIAGE_LEVELS, {"chest": {"routine": 50.0}, "pain": {"routine": 50.0}})
        reading = u.with_models(calm, None).read("crushing chest pain")
        assert reading.triage.level == "emergency"
        assert reading.triage.rule != LEARNED_RULE

    def test_same_day_only_where_the_rules_found_nothing(self, u):
        """A confident same-day opinion raises a routine message, not an already urgent one."""
        both = u.with_models(ALARM, None)
        assert both.read(XQZVV).triage == TriageResult("same_day", LEARNED_RULE)
        assert both.read(f"{XQZVV} and I want to kill myself").triage.level == "crisis"

    def test_raises_a_rule_same_day_to_call_now(self, u):
        """When the rules say 'today' and the model says '911', the patient hears 911."""
        rules_level = u.rules.assess(u.message("burning when I pee and a fever")).level
        assert rules_level == "same_day"
        assert u.with_models(ALARM, None).read("zorblax, burning when I pee and a fever").triage.level == "emergency"

    def test_thresholds_are_data(self, u):
        """A clinic that sets urgent_above to 1.0 turns the triage model off."""
        off = u.with_models(ALARM, None)
        off = type(off)(off.lexicon, off.rules, ALARM, None, LearnedSettings(urgent_above=1.0, same_day_above=1.0))
        assert off.read(ZORBLAX).triage.level == "routine"

    def test_settings_out_of_range_fail_at_load(self):
        """A threshold outside 0..1 is a data error, found at start-up."""
        with pytest.raises(LexiconError, match="urgent_above"):
            LearnedSettings.from_raw({"learned": {"triage": {"urgent_above": 5}}})


class TestIntentBlend:
    def test_model_can_overrule_a_weak_lexicon_guess(self, u):
        """When the lexicon is torn between two requests and the model is sure, the model's intent wins."""
        text = "zorblax refill my meds and did my labs come back"
        lexical = u.without_models().classify(u.message(text))
        assert lexical.intent == "refill" and "results" in lexical.scores
        sure = _model(INTENTS, {"zorblax": {"results": 40.0}}, target="intent")
        assert u.with_models(None, sure).classify(u.message(text)).intent == "results"

    def test_a_unanimous_lexicon_keeps_its_intent(self, u):
        """One clear request in the lexicon is not outvoted by the model (at most a tie, lexicon first)."""
        sure = _model(INTENTS, {"zorblax": {"results": 40.0}}, target="intent")
        assert u.with_models(None, sure).classify(u.message("zorblax please refill my metformin")).intent == "refill"

    def test_model_does_not_bring_in_a_request_the_words_never_named(self, u):
        """A lexicon torn between a symptom question and 'other' is not blended into an appointment."""
        text = "zorblax I have a question about my asthma, it's been acting up for a week"
        lexical = u.without_models().classify(u.message(text))
        assert lexical.intent == "symptom" and "appointment" not in lexical.scores
        sure = _model(INTENTS, {"zorblax": {"appointment": 40.0}}, target="intent")
        assert u.with_models(None, sure).classify(u.message(text)).intent == "symptom"

    def test_no_phrase_stays_other_with_no_confidence(self, u):
        """A message the lexicon finds nothing in still makes the bot ask with the menu."""
        sure = _model(INTENTS, {"qwerty": {"refill": 40.0}}, target="intent")
        c = u.with_models(None, sure).classify(u.message("qwerty"))
        assert (c.intent, c.confidence) == ("other", 0.0)


class TestShippedModels:
    def test_load_with_the_labels_of_the_spec(self, u):
        """Both shipped models speak SPEC §2 intents and §3 triage levels."""
        assert set(u.triage_model.classes) == set(TRIAGE_LEVELS)
        assert set(u.intent_model.classes) == set(INTENTS)

    def test_trained_on_the_labeled_sets_in_this_checkout(self, u):
        """Adding or editing a labeled set without `make models` fails here, naming the fix."""
        paths = sorted(DATA.glob("utterances*.jsonl"))
        digest = hashlib.sha256()
        for p in paths:
            digest.update(p.read_bytes())
        trained = u.triage_model.trained_on
        assert trained.get("files") == [p.name for p in paths], "run `make models`"
        assert trained.get("sha256") == digest.hexdigest()[:16], "run `make models`"

    def test_wrong_classes_fail_at_load(self, tmp_path):
        """A model file for other labels is refused at start-up."""
        data = json.loads((DATA_DIR / "intent_model.json").read_text())
        (tmp_path / "triage_model.json").write_text(json.dumps(data))
        with pytest.raises(LexiconError, match="classes"):
            load_model(tmp_path / "triage_model.json", classes=TRIAGE_LEVELS)

    def test_version_changes_with_the_models(self, u):
        """Stored test runs name the models too: another model, another version."""
        assert u.version != u.without_models().version


def test_evaluate_counts_the_false_alarms_the_bot_asks_about_first(u):
    """A routine line raised by the word model alone is over-triage, reported apart: the bot
    asks one safety question there rather than refusing."""
    from micare_bot.evaluate import evaluate, format_report

    lines = [{"id": "a", "text": ZORBLAX, "intent": "symptom", "triage": "routine"},
             {"id": "b", "text": "my chest hurts so bad right now", "intent": "symptom", "triage": "routine"},
             {"id": "c", "text": "refill my lisinopril please", "intent": "refill", "triage": "routine"}]
    report = evaluate(u.with_models(ALARM, None), lines)
    assert report.over_triage == 2 and report.over_triage_asked == 1
    assert report.to_dict()["triage"]["over_triage"]["asked_first"] == 1
    assert "1 of them by the word model alone" in format_report(report)
