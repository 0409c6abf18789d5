"""Text pipeline, phrase templates, triage scoping and the extractors, one behaviour per test."""

from __future__ import annotations

from datetime import date

import pytest

from micare_bot.intents import load_understanding
from micare_bot.intents import extract
from micare_bot.intents.phrases import PhraseIndex, TemplateError, expand
from micare_bot.text import phrase_stems
from micare_bot.intents.timeparse import find_time
from micare_bot.models import Dependent
from micare_bot.text import fold


@pytest.fixture(scope="module")
def u():
    """The package lexicon and red-flag rules."""
    return load_understanding()


class TestText:
    def test_contractions_and_possessives(self):
        assert fold("I'll wait, can't breathe, kid's shots") == "i will wait, can not breathe, kids shots"

    def test_units_split_but_test_names_kept(self):
        assert fold("100.4F, 10mg, my A1C and B12") == "100.4 f, 10 mg, my a1c and b12"

    def test_misspellings_corrected_to_domain_words(self, u):
        """'perscription', 'immunazation', 'glypizide' reach the lexicon."""
        words = u.message("perscription immunazation glypizide").analysed.all_words
        assert words == ("prescription", "immunization", "glipizide")
        assert u.message("refil").analysed.all_stems == u.message("refills").analysed.all_stems

    def test_texting_forms_reach_the_lexicon(self, u):
        """Dropped g's, hedges and "od'd" are read as the words they stand for."""
        assert u.message("chest hurtin").analysed.all_words == ("chest", "hurting")
        assert u.message("lips are kinda gray").analysed.all_words == ("lips", "are", "gray")
        assert "overdosed" in u.message("I think he od'd").analysed.all_words
        assert u.message("what kind of test").analysed.all_words == ("what", "kind", "of", "test")

    def test_corrections_do_not_depend_on_the_hash_seed(self):
        """A misspelling equally close to several domain words is corrected the same way in
        every process (set order follows the hash seed): the service's workers and a
        clinic's evaluate run must agree."""
        import os
        import subprocess
        import sys
        from pathlib import Path

        script = (
            "from micare_bot.text import Vocabulary\n"
            "word = 'medicat'\n"
            "ties = [word[:i] + c + word[i + 1:] for i in range(len(word)) for c in 'xyz']\n"
            "print(Vocabulary(ties, [], {}).correct('medicatq'))\n"
        )
        root = Path(__file__).resolve().parents[2]
        picked = {subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                                 env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
                  for seed in ("1", "2", "3", "4", "5")}
        assert len(picked) == 1, picked

    def test_tokens_are_those_of_the_plain_pattern(self):
        """The one-pass token pattern finds what the plain alternation found."""
        import random
        import re

        from micare_bot.text import raw_tokens

        plain = re.compile(r"\{[a-z]+\}|[a-z]+\d[a-z\d]*|\d+(?:\.\d+)?|[a-z\u00e0-\u00ff]+")
        rng = random.Random(5)
        alphabet = "abz{}019. -,\u00e9\u00e0\u00ff\u00f7\u00df_'\n"
        for _ in range(20_000):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
            assert raw_tokens(text) == plain.findall(text), text

    def test_real_words_are_not_corrected(self, u):
        """'bill' stays 'bill' (not 'pill'); 'swabbed' stays (not 'stabbed')."""
        words = u.message("the bill, they swabbed him").analysed.all_words
        assert "bill" in words and "swabbed" in words


class TestPhrases:
    def test_template_expansion(self):
        assert sorted(expand("refill [my] (meds|pills)")) == ["refill meds", "refill my meds", "refill my pills", "refill pills"]

    def test_optional_group_with_question_mark(self):
        assert sorted(expand("throat (is )?closing")) == ["throat closing", "throat is closing"]

    def test_unbalanced_template_fails_at_load(self):
        with pytest.raises(TemplateError):
            expand("refill (my")

    @pytest.mark.parametrize("template", [
        "refill [my] (meds|pills|med)",
        "(chest|chests) [pain|pains] (is )?(bad|worse) [[really] now]",
        "can't (breathe|breath) !",
        "[the] 10mg [pill|{drug}]",
    ])
    def test_index_holds_exactly_the_expanded_phrases(self, template):
        """The index is built by walking the template, not expanding it: it must hold the
        stems of every expanded phrase and nothing else."""
        index: PhraseIndex[str] = PhraseIndex({"rx": "prescription"})
        index.add(template, "x")
        keys = {phrase_stems(p, {"rx": "prescription"}) for p in expand(template)}
        assert len(index) == len(keys)
        for key in keys:
            assert (0, len(key), "x") in index.find_tokens(key)

    @pytest.mark.parametrize("template", ["refill (my", "a ((b|c) d", "x]", "(a|b)] c", "[a|(b]"])
    def test_malformed_template_fails_like_expand(self, template):
        with pytest.raises(TemplateError) as expanded:
            expand(template)
        with pytest.raises(TemplateError) as added:
            PhraseIndex().add(template, "x")
        assert str(added.value) == str(expanded.value)

    @pytest.mark.parametrize("template,message", [
        ("(a ... b)", "a gap must not sit inside brackets"),
        ("(chest|!)", "yields an empty phrase"),
        ("[a] ... b", None),
        ("[a] ... !", "yields an empty phrase"),
        ("[a] ... [b]", None),
        ("... b", "a gap must sit between words"),
    ])
    def test_template_errors(self, template, message):
        if message is None:
            PhraseIndex().add(template, "x")
            return
        with pytest.raises(TemplateError, match=message):
            PhraseIndex().add(template, "x")

    def test_gap_matches_within_limit(self):
        index: PhraseIndex[str] = PhraseIndex()
        index.add("how much ... kill", "x")
        assert list(index.find_tokens(("how", "much", "tylenol", "would", "kill")))
        assert not list(index.find_tokens(("how", "much", *["a"] * 12, "kill")))


class TestClassifier:
    @pytest.mark.parametrize("text,intent", [
        ("glypizide refil plz", "refill"),
        ("need my shot record for the CDC", "immunization_copy"),
        ("did my sugar test come back", "results"),
        ("can I get in with my PCM for my PHA", "appointment"),
        ("my water pill is almost gone", "refill"),
        ("Does rizatriptan interact with cold medicine?", "symptom"),
        ("How do I sign up for TRICARE Dental?", "other"),
    ])
    def test_patient_language(self, u, text, intent):
        assert u.read(text).intent.intent == intent

    def test_confidence_is_low_for_gibberish(self, u):
        assert u.read("qwerty zzz").intent.confidence < 0.5


class TestJointScan:
    def test_intent_phrases_as_the_intent_index_finds_them(self, u):
        """The triage index's scan holds the intent phrases the intent index finds, in order."""
        from micare_bot.intents.classifier import _joint_spans
        from micare_bot.intents.phrases import spans

        for text in ("need a refill on my lisinopril and my chest hurts", "appt for my son, not about meds",
                     "can i get my a1c results or book a visit? no fever"):
            message = u.message(text)
            scanned = u.rules.scan(message)
            for c, (lattice, tokens) in enumerate(zip(message.lattices, message.plain_tokens())):
                assert list(_joint_spans(scanned[c])) == list(spans(*u.lexicon.intent_index.scan(lattice, tokens)))

    def test_alias_closure_adds_what_a_pass_over_the_aliases_adds(self, u):
        rules = u.rules
        for feature in rules.implied:
            expected = {feature}
            for name, refs in rules.alias_order:
                if not expected.isdisjoint(refs):
                    expected.add(name)
            got = {feature}
            rules._add_aliases(got)
            assert got == expected


class TestTriageScoping:
    """SPEC §3: negated, historical, hypothetical and report mentions are routine."""

    @pytest.mark.parametrize("text", [
        "no chest pain, just need my statin",
        "after my heart attack last year I take Plavix, can I get a refill",
        "what are the signs of a stroke? it's for a first aid class",
        "can I get my chest x-ray results",
        "Just need my Plavix continued. Doing great, zero chest discomfort since the cardiac cath.",
        "What did the heart monitor find? It was ordered after I fainted back in January, no episodes since.",
        "Could you share a fact sheet about recognizing anaphylaxis for my kid's teachers?",
        "My son got his shots yesterday and his thigh is a little sore",
    ])
    def test_routine(self, u, text):
        assert u.read(text).triage.level == "routine"

    @pytest.mark.parametrize("text,level", [
        ("chest presure and my left arm is numb", "emergency"),
        ("cant breath", "emergency"),
        ("everyone would be better off without me", "crisis"),
        ("my toddler ate some of grandma's pills", "poison"),
        ("Newborn (4 weeks) just measured 100.9 rectally.", "emergency"),
        ("Temperature 102.8 for four days and achy all over.", "same_day"),
        ("Burning urine with fever and pain in my back on the left.", "same_day"),
    ])
    def test_urgent_however_phrased(self, u, text, level):
        assert u.read(text).triage.level == level

    def test_routine_request_then_urgent_sentence(self, u):
        text = "Wanted to book a follow-up for my knee, but right now my chest is tight and I feel like I might pass out."
        assert u.read(text).triage.level == "emergency"

    def test_earlier_turns_add_up(self, u):
        """Burning urine in one answer and fever with flank pain in the next: same day by the rules."""
        rules = u.without_models()
        assert rules.read("moderate, and now I have a fever and pain in my back on one side").triage.level == "routine"
        reading = rules.read("moderate, and now I have a fever and pain in my back on one side",
                             earlier="It burns when I pee")
        assert reading.triage.level == "same_day"

    def test_urgent_message_without_request_is_a_symptom(self, u):
        assert u.read("my 3 year old drank drain cleaner").intent.intent == "symptom"

    def test_rule_id_not_text_is_reported(self, u):
        """The triage result names the rule, never the patient's words."""
        t = u.read("I have crushing chest pain").triage
        assert t.rule == "chest_pain"


class TestExceptVoidsOneMention:
    """`except` (per rule) and `feature_except` (per feature) void the mention inside their
    match only; another mention in the same clause still counts (an `unless` would veto it)."""

    @staticmethod
    def _triage(u):
        from micare_bot.intents.triage import Triage
        kinds = ("negation", "pseudo_negation", "present", "history", "educational",
                 "conditional", "records", "resolved")
        data = {
            "priority": ["crisis", "same_day"],
            "cues": {kind: [] for kind in kinds},
            "features": {"bleeding": ["(blood|bleeding)"], "pregnant": ["pregnant"]},
            "feature_except": {"bleeding": ["blood test"]},
            "rules": [
                {"id": "threat", "level": "crisis", "scopes": ["negation"], "phrases": ["kill him"],
                 "except": ["school ... is killing him"]},
                {"id": "pregnant_bleeding", "level": "same_day", "all": ["pregnant", "bleeding"]},
            ],
        }
        return Triage(data, u.lexicon)

    @pytest.mark.parametrize("text,rule", [
        ("my son says school is killing him", None),
        ("school is killing him and I want to kill him", "threat"),
        ("pregnant, is my blood test back", None),
        ("pregnant, my blood test was fine but now there is blood", "pregnant_bleeding"),
    ])
    def test_only_the_mention_inside_is_voided(self, u, text, rule):
        assert self._triage(u).assess(u.lexicon.message(text)).rule == rule


class TestReadingsInOtherUnits:
    """Temperatures in whole degrees Celsius and blood sugars in mmol/L (British meters)."""

    @pytest.mark.parametrize("text,fahrenheit", [
        ("temp now 38.4 and shivering", 101.1),
        ("temperature of 39 since lunch", 102.2),
        ("fever 40 for two days", 104.0),
        ("a temperature of 38 point 5", 101.3),
        ("my 40 year old has a fever", None),  # an age, not a reading
        ("fever for 39 hours", None),
        ("temperature 101", 101.0),
    ])
    def test_celsius_after_a_fever_word(self, text, fahrenheit):
        from micare_bot.intents.triage import _max_temperature_f
        value = _max_temperature_f(text)
        assert (value is None and fahrenheit is None) or round(value, 1) == fahrenheit

    @pytest.mark.parametrize("text,mg_dl", [
        ("my blood sugars have been over 20 for two days", [360]),
        ("sugar was 2.8 this morning", [50]),
        ("glucose 15.6", [281]),
        ("sugar 7 mmol", [126]),
        ("sugar has been dipping into the 3s", [63]),
        ("sugar is 38 and he is confused", [38]),  # mg/dL: no one writes 38 mmol/L
        ("sugar is 25", [25, 450]),  # either: each rule asks for its own symptoms
        ("sugar is 550", [550]),
        ("I check my sugar 4 times a day", []),
    ])
    def test_mmol_readings_are_converted(self, text, mg_dl):
        from micare_bot.intents.triage import _glucose_values
        assert _glucose_values(text) == mg_dl


class TestScreeningQuestionAnsweredNo:
    """A question about thoughts put to the patient and answered no is negated, in the same
    sentence or the next; an answer taken back, or a question about something else, is not."""

    @pytest.mark.parametrize("text,level", [
        ("The form at check-in asked if I'd thought about killing myself. I said no, just wondering why.", "routine"),
        ("my counselor asked if I have had thoughts of suicide and I said no because I haven't", "routine"),
        ("The nurse asked if I'd thought about killing myself and I said no, but I lied.", "crisis"),
        ("the screening asked whether I'd had thoughts of hurting myself. I said no. The real answer is yes.", "crisis"),
        ("The form asked if I'd thought about suicide. I said no. I want to die though.", "crisis"),
        ("They asked if I wanted to go to the ER for my chest pain and I said no", "emergency"),
    ])
    def test_answered_no(self, u, text, level):
        assert u.without_models().read(text).triage.level == level


class TestTakenFirst:
    """`taken_first` rules (pills already swallowed) win over crisis; a plan stays crisis."""

    def test_order(self, u):
        from micare_bot.intents.triage import Triage
        kinds = ("negation", "pseudo_negation", "present", "history", "educational",
                 "conditional", "records", "resolved")
        data = {
            "priority": ["crisis", "poison"],
            "cues": {kind: [] for kind in kinds},
            "taken_first": ["swallowed"],
            "rules": [
                {"id": "purpose", "level": "crisis", "phrases": ["on purpose"]},
                {"id": "swallowed", "level": "poison", "phrases": ["swallowed a handful"]},
                {"id": "other_poison", "level": "poison", "phrases": ["bleach"]},
            ],
        }
        triage = Triage(data, u.lexicon)
        assert triage.assess(u.lexicon.message("swallowed a handful on purpose")).rule == "swallowed"
        assert triage.assess(u.lexicon.message("drank bleach on purpose")).rule == "purpose"
        with pytest.raises(Exception):
            Triage({**data, "taken_first": ["nonesuch"]}, u.lexicon)

    @pytest.mark.parametrize("text,level", [
        ("Took a whole bottle of my sertraline on purpose about 20 minutes ago", "poison"),
        ("I'm going to take all my pills tonight", "crisis"),
        ("If I took all my sleeping tablets would it be painless", "crisis"),
    ])
    def test_package_rules(self, u, text, level):
        assert u.without_models().read(text).triage.level == level


class TestMedication:
    MEDS = ("Losartan 50 mg tablet", "Rosuvastatin 10 mg tablet", "Glipizide 5 mg tablet")

    @pytest.mark.parametrize("text,entry", [
        ("losartan", "Losartan 50 mg tablet"),
        ("my Cozaar", "Losartan 50 mg tablet"),
        ("Crestor", "Rosuvastatin 10 mg tablet"),
        ("glypizide", "Glipizide 5 mg tablet"),
        ("the diabetes pill", "Glipizide 5 mg tablet"),
        ("my blood pressure pill", "Losartan 50 mg tablet"),
        ("cholesterol med", "Rosuvastatin 10 mg tablet"),
    ])
    def test_matches_the_list_entry(self, u, text, entry):
        match = extract.medication(u.lexicon, u.message(text), self.MEDS)
        assert match is not None and match.value == entry

    def test_unknown_drug_kept_as_typed(self, u):
        match = extract.medication(u.lexicon, u.message("refill my tretinoin 0.05 cream"), self.MEDS)
        assert match is not None and match.value == "tretinoin 0.05 cream"

    def test_ambiguous_class_gives_candidates(self, u):
        meds = ("Losartan 50 mg tablet", "Amlodipine 5 mg tablet")
        match = extract.medication(u.lexicon, u.message("my blood pressure pill"), meds)
        assert match is not None and match.value is None and set(match.candidates) == set(meds)

    @pytest.mark.parametrize("text,entry", [
        ("the diabetes pill, the white one", "Metformin 500 mg tablet"),
        ("my diabetes shot", "Insulin glargine (Lantus) 100 units/mL pen"),
        ("the sugar pen", "Insulin glargine (Lantus) 100 units/mL pen"),
    ])
    def test_the_dosage_form_said_picks_among_a_class(self, u, text, entry):
        """A pill is the tablet, a shot or pen the insulin pen; 'diabetes meds' still asks."""
        meds = ("Insulin glargine (Lantus) 100 units/mL pen", "Metformin 500 mg tablet", "Gabapentin 300 mg capsule")
        match = extract.medication(u.lexicon, u.message(text), meds)
        assert match is not None and match.value == entry
        both = extract.medication(u.lexicon, u.message("my diabetes meds"), meds)
        assert both is not None and both.value is None and len(both.candidates) == 2

    def test_the_lists_only_entry_in_a_form(self, u):
        """'my eye drops', 'my inhaler': the one entry in that form; a class named but not on
        the list is not another drug's form ('blood pressure pill' is not the metformin)."""
        meds = ("Latanoprost 0.005% eye drops", "Metformin 500 mg tablet", "Albuterol HFA inhaler")
        for text, entry in (("the eye drops for my glaucoma", meds[0]), ("my eye drops", meds[0]),
                            ("refill my inhaler please", meds[2])):
            match = extract.medication(u.lexicon, u.message(text), meds)
            assert match is not None and match.value == entry, text
        bp = extract.medication(u.lexicon, u.message("refill my blood pressure pill"), meds)
        assert bp is not None and bp.value is None

    def test_combination_entry(self, u):
        meds = ("Bupropion XL 150 mg tablet", "Norgestimate-ethinyl estradiol 0.25/0.035 mg tablet")
        match = extract.medication(u.lexicon, u.message("my birth control"), meds)
        assert match is not None and match.value == meds[1]


class TestEnums:
    @pytest.mark.parametrize("field,text,value", [
        ("visit_type", "a video visit is fine", "virtual"),
        ("visit_type", "can someone just call me", "phone"),
        ("visit_type", "I'd rather come into the clinic", "in_person"),
        ("visit_type", "doesn't matter", "no_preference"),
        ("purpose", "for my kid's daycare", "childcare"),
        ("purpose", "we have PCS orders to Germany", "pcs"),
        ("purpose", "his high school football team", "sports"),
        ("purpose", "she starts first grade", "school"),
        ("delivery", "send it as a portal message", "secure_message"),
        ("delivery", "post it to my home address", "mail"),
        ("severity", "7 out of 10", "severe"),
        # an answer thought aloud ends on its choice
        ("purpose", "school? well it's for football, the sports packet. so sports", "sports"),
        ("severity", "severe. well, I can walk on it. moderate", "moderate"),
        ("severity", "moderate. no, mild. it's mild now, it was bad at first", "mild"),
        ("visit_type", "does it have to be in person?? ok whatever in person", "in_person"),
        ("purpose", "It's for... hmm. Volunteering at the shelter, they want my rabies shots. Other I guess", "other"),
        ("visit_type", "Could it be on the telephone? My hearing is poor... No, better in person.", "in_person"),
        # ... and an answer that opens with its choice keeps it
        ("visit_type", "video, in person is too far to drive", "virtual"),
        ("visit_type", "video. my husband prefers in person though", "virtual"),
        ("severity", "mild i guess, well it was severe last night but ok now", "mild"),
        ("visit_type", "phone is better than in person for me", "phone"),
        # round 21 (cv17)
        ("severity", "pretty mild, I mostly notice it when it's quiet", "mild"),
        ("purpose", "my new job at a daycare center wants proof of my MMR and Tdap", "employment"),
        ("purpose", "Zoe is starting at the CDC on base and they want her immunization record", "childcare"),
        ("purpose", "It's just for my own files, I like to keep my papers in order.", "other"),
    ])
    def test_natural_words(self, u, field, text, value):
        assert extract.enum_value(u.lexicon, field, u.message(text)) == value

    def test_correction_takes_the_last_value(self, u):
        msg = u.message("in person, no wait, actually a video visit")
        assert extract.enum_value(u.lexicon, "visit_type", msg) == "virtual"


    def test_negated_value_is_ignored(self, u):
        msg = u.message("not in person, phone please")
        assert extract.enum_value(u.lexicon, "visit_type", msg) == "phone"


class TestDatesAndNames:
    TODAY = date(2026, 11, 18)  # a Wednesday

    @pytest.mark.parametrize("text,direction,words,when", [
        ("Thursday morning", "future", "thursday morning", date(2026, 11, 19)),
        ("it was done on the 18th", "past", "on the 18 th", date(2026, 11, 18)),
        ("sometime this month", "future", "sometime this month", None),
        ("about ten days ago", "past", "ten days ago", date(2026, 11, 8)),
        ("11/30", "future", "11/30", date(2026, 11, 30)),
    ])
    def test_words_kept_date_parsed(self, text, direction, words, when):
        found = find_time(fold(text), self.TODAY, direction)
        assert found is not None and found.words == words and found.when == when

    def test_a_greeting_is_not_a_time(self):
        """'Good morning. ... could I get something set up' names no wanted time of day."""
        assert find_time(fold("Good morning. Could I please get something set up"), self.TODAY) is None
        assert find_time(fold("good morning, tuesday morning works"), self.TODAY).words == "tuesday morning"
        # a bare "Morning." opening an anxious message is no daypart for the test's date
        found = find_time(fold("Morning. The wife and I are on 3 hours of sleep. I had an MRI last week"), self.TODAY, "past")
        assert found is not None and found.words == "last week"
        assert find_time(fold("morning I am free after 9"), self.TODAY).words == "morning after 9"

    def test_dependent_name_with_typo_and_possessive(self):
        deps = (Dependent("Sophie", 1), Dependent("Lucas", 5))
        assert extract.dependent_named("sophies checkup", deps) == "Sophie"
        assert extract.dependent_named("for Lukas please", deps) == "Lucas"
        assert extract.dependent_named("this is for Lucas, not Sophie", deps) == "Lucas"


def test_apt_in_a_street_address_is_the_apartment_not_an_appointment():
    from micare_bot.text import fold
    assert "apartment 2b" in fold("New one is 4410 Eagle Ridge Dr, Apt 2B.")
    assert "drive, apartment" in fold("4410 Eagle Ridge Dr, Apt 2B")
    assert "apartment 7" in fold("moved to 55 Elm St Apt 7")
    assert "apartment #4" in fold("apt #4, 12 Oak St")
    for texting in ("need an apt 2 weeks out", "apt 4 my son", "can i get an apt", "reschedule my apt 2 next week"):
        assert "apt" in fold(texting).split()


class TestRound21Fields:
    """Field words from round 21's blind conversation scripts (cv17)."""

    @pytest.mark.parametrize("text", ["I need my insulin pens renewed, the long acting one, Lantus",
                                      "what's the target dose for my lisinopril"])
    def test_a_store_name_that_is_a_plain_word_is_no_pharmacy(self, u, text):
        assert extract.pharmacy(u.lexicon, u.message(text), named_only=True) is None

    def test_a_store_name_with_its_store_word_is_a_pharmacy(self, u):
        assert extract.pharmacy(u.lexicon, u.message("send it to the Longs Drugs on 5th")) is not None
