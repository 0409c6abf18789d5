"""The flow engine, path by path: what a patient sees and what gets filed."""

from __future__ import annotations

import json

import pytest

from micare_bot.models import Cancelled, ConversationState, FileRequest, PatientContext, Redirect
from tests.conftest import Chat


def redirected(result, level: str) -> bool:  # type: ignore[no-untyped-def]
    """The turn sent the patient away at this level."""
    return any(isinstance(e, Redirect) and e.level == level for e in result.effects)


def cancelled(result) -> bool:  # type: ignore[no-untyped-def]
    """The turn closed the conversation as cancelled."""
    return any(isinstance(e, Cancelled) for e in result.effects)


class TestFilledFromOpening:
    def test_refill_opening_fills_both_fields(self, chat, jordan):
        """'refill my X to the base pharmacy' goes straight to the read-back."""
        c = chat(jordan)
        r = c.say("refill my glipizide to the base pharmacy please")
        assert r.state.awaiting == "confirm"
        assert r.state.fields["medication"] == "Glipizide 5 mg tablet"
        assert "base" in r.state.fields["pharmacy"]
        assert "Shall I send it?" in c.text

    def test_lay_drug_words_match_the_list(self, chat, jordan):
        """'blood pressure medicine' files the patient's losartan entry."""
        c = chat(jordan)
        c.say("Could you renew my blood pressure medicine?")
        assert c.state.fields["medication"] == "Losartan 50 mg tablet"
        assert c.state.awaiting == "pharmacy"

    def test_brand_name_matches_generic_entry(self, chat, jordan):
        """'Crestor' is the rosuvastatin on the list."""
        c = chat(jordan)
        c.say("Out of Crestor. Ship it mail order?")
        assert c.state.fields["medication"] == "Rosuvastatin 10 mg tablet"
        assert c.state.fields["pharmacy"].startswith("Mail order")

    def test_appointment_fields_from_opening(self, chat, jordan):
        """Reason, time and visit type in the opening are not asked again."""
        c = chat(jordan)
        c.say("Can I book a video visit Tuesday afternoon about my back pain?")
        assert c.state.fields["visit_type"] == "virtual"
        assert "tuesday" in c.state.fields["preferred_time"].lower()
        assert "back" in c.state.fields["reason"].lower()
        assert c.state.parsed["preferred_time"] == "2026-11-24"
        assert c.state.awaiting == "confirm"

    def test_dependent_named_in_opening(self, chat, maria):
        """A child's name in the opening settles who it is for."""
        c = chat(maria)
        c.say("Lucas needs his shot record for kindergarten, I can pick it up")
        assert c.state.fields["patient"] == "Lucas"
        assert c.state.fields["purpose"] == "school"
        assert c.state.fields["delivery"] == "pickup"


class TestAsking:
    def test_a_question_about_a_symptom_asks_which(self, chat, jordan):
        """'I have a question about a symptom' names no symptom: it is asked, not filed as one."""
        c = chat(jordan)
        c.say("I have a question about a symptom")
        assert c.state.intent == "symptom" and c.state.awaiting == "symptom"

    def test_a_time_named_after_whenever_is_kept(self, chat, jordan):
        """'whenever, mornings are better' is a wanted time, not 'no preference'."""
        c = chat(jordan)
        c.say("i need a follow up appt for my blood pressure")
        assert c.state.awaiting == "preferred_time"
        c.say("whenever, mornings are better")
        assert "mornings" in c.state.fields["preferred_time"]
        c = chat(jordan)
        c.say("i need a follow up appt for my blood pressure")
        c.say("whenever")
        assert c.state.fields["preferred_time"] == "no preference"

    def test_patient_asked_only_with_dependents(self, chat, jordan, maria):
        """No 'who is this for' without dependents; asked first with them."""
        assert chat(jordan).say("my knee hurts").state.awaiting != "patient"
        r = chat(maria).say("my knee hurts")
        assert r.state.awaiting == "patient"
        assert r.replies[-1].quick_replies == ("Me", "Lucas", "Sophie")

    def test_enum_question_offers_its_values(self, chat, jordan):
        """The visit-type question has the enumeration as buttons."""
        c = chat(jordan)
        c.say("I need an appointment for a physical")
        c.say("next Monday morning")
        assert c.state.awaiting == "visit_type"
        assert "Video visit" in c.last.replies[-1].quick_replies

    def test_bad_answer_is_asked_again_with_reason(self, chat, jordan):
        """An answer that fits nothing re-asks the same field."""
        c = chat(jordan)
        c.say("I need an appointment for a physical")
        c.say("next Monday morning")
        r = c.say("banana")
        assert r.state.awaiting == "visit_type"
        assert "in person, video, phone" in c.text
        c.say("phone is fine")
        assert c.state.fields["visit_type"] == "phone"

    def test_i_dont_know_is_accepted_where_sensible(self, chat, jordan):
        """'Not sure' is a fine test date; the request still goes through."""
        c = chat(jordan)
        c.say("are my lipid panel results back")
        r = c.say("not sure")
        assert r.state.fields["test_date"] == "not sure"
        assert r.state.awaiting == "confirm"

    def test_medication_choice_offers_the_list(self, chat, jordan):
        """'my meds' with three on the list asks which, with the list as buttons."""
        c = chat(jordan)
        r = c.say("I need a refill")
        assert r.state.awaiting == "medication"
        assert r.replies[-1].quick_replies == jordan.medications
        c.say("the rosuvastatin")
        assert c.state.fields["medication"] == "Rosuvastatin 10 mg tablet"

    def test_unknown_drug_kept_as_typed(self, chat, jordan):
        """A drug not on the list is filed as the patient typed it."""
        c = chat(jordan)
        c.say("I need a refill")
        c.say("tretinoin cream")
        assert "tretinoin" in c.state.fields["medication"].lower()


class TestConfirm:
    def test_yes_files_one_request(self, chat, jordan):
        """Confirm files exactly one structured request."""
        c = chat(jordan)
        c.say("refill my losartan, mail order")
        r = c.say("yes please")
        assert r.state.status == "filed"
        files = [e for e in r.effects if isinstance(e, FileRequest)]
        assert len(files) == 1
        assert files[0].intent == "refill"
        assert files[0].fields["medication"] == "Losartan 50 mg tablet"
        assert files[0].patient == "self"
        assert files[0].patient_words[0] == "refill my losartan, mail order"

    def test_correction_at_confirm(self, chat, maria):
        """'no, send it to the Walgreens instead' changes the pharmacy and reads back again."""
        c = chat(maria)
        c.say("Running low on escitalopram, can I get more?")
        c.say("me")
        c.say("clinic pharmacy downstairs")
        r = c.say("no, send it to the Walgreens on Lake Ave instead")
        assert r.state.status == "confirming"
        assert "walgreens" in r.state.fields["pharmacy"].lower()
        assert "changed pharmacy" in c.text
        assert c.say("yes").state.status == "filed"

    def test_enum_correction_at_confirm(self, chat, jordan):
        """'no, make it mail order' and 'actually a phone call' correct enumerations."""
        c = chat(jordan)
        c.say("book a video visit Tuesday afternoon for my back")
        c.say("actually it should be a phone call")
        assert c.state.fields["visit_type"] == "phone"
        assert c.state.awaiting == "confirm"

    def test_plain_no_asks_what_to_change(self, chat, jordan):
        """'No' alone asks which field, then re-asks that field."""
        c = chat(jordan)
        c.say("refill my losartan, mail order")
        r = c.say("no")
        assert r.state.awaiting == "change"
        assert "Pharmacy" in r.replies[-1].quick_replies
        r = c.say("Pharmacy")
        assert r.state.awaiting == "pharmacy"
        c.say("CVS on Main Street")
        assert c.state.awaiting == "confirm"
        assert c.state.fields["pharmacy"] == "CVS on Main Street"


class TestCancelAndRestart:
    def test_cancel_mid_flow(self, chat, jordan):
        """'never mind' at any point cancels and files nothing."""
        c = chat(jordan)
        c.say("Could someone pull up my recent bloodwork?")
        r = c.say("scratch that, I'll wait and ask Dr. Lin in person")
        assert r.state.status == "cancelled"
        assert cancelled(r)
        assert not any(isinstance(e, FileRequest) for e in r.effects)

    def test_cancel_at_confirm(self, chat, jordan):
        c = chat(jordan)
        c.say("refill my losartan, mail order")
        assert c.say("cancel").state.status == "cancelled"

    def test_cancel_with_a_reason_at_confirm(self, chat, jordan):
        """'cancel, ill just go to sick call tomorrow' at the read-back cancels; it is not a new time."""
        c = chat(jordan)
        c.say("refill my losartan, mail order")
        r = c.say("cancel, ill just go to sick call tomorrow")
        assert r.state.status == "cancelled"
        assert not any(isinstance(e, FileRequest) for e in r.effects)

    def test_cancel_my_appointment_is_a_request(self, chat, jordan):
        """'cancel my appointment on the 22nd' is an appointment intent, not a cancellation."""
        r = chat(jordan).say("I need to cancel my appointment on the 22nd")
        assert r.state.status == "collecting"
        assert r.state.intent == "appointment"

    def test_start_over(self, chat, jordan):
        """'start over' clears everything and offers the menu."""
        c = chat(jordan)
        c.say("refill my losartan")
        r = c.say("start over")
        assert r.state.intent is None and r.state.fields == {}
        assert "Medication refill" in r.replies[-1].quick_replies

    def test_closed_conversation_stays_closed(self, chat, jordan):
        c = chat(jordan)
        c.say("refill my losartan, mail order")
        c.say("yes")
        r = c.say("one more thing")
        assert r.state.status == "filed" and r.effects == ()
        assert "ended" in c.text


class TestTriageInFlow:
    def test_urgent_opening_redirects(self, chat, jordan):
        """Crushing chest pain: 911, closed, nothing filed."""
        r = chat(jordan).say("I have crushing chest pain")
        assert r.state.status == "redirected" and r.state.triage == "emergency"
        assert redirected(r, "emergency")
        assert "911" in r.replies[0].text

    def test_every_answer_is_rescreened(self, chat, jordan):
        """An urgent answer in the middle of a flow pre-empts it."""
        c = chat(jordan)
        c.say("I have a question about my asthma, it's been acting up for a week")
        r = c.say("severe, I can barely talk and the inhaler isn't helping")
        assert r.state.status == "redirected"
        assert r.state.triage == "emergency"
        assert r.state.intent == "symptom"

    def test_crisis_after_routine_request(self, chat, jordan):
        """A routine request followed by a crisis sentence goes to 988."""
        r = chat(jordan).say("Refill my losartan please. Not that it matters, I'm planning to end things soon.")
        assert r.state.triage == "crisis"
        assert "988" in r.replies[0].text
        assert not any(isinstance(e, FileRequest) for e in r.effects)

    def test_redirect_at_confirm_step(self, chat, jordan):
        c = chat(jordan)
        c.say("refill my losartan, mail order")
        r = c.say("yes but my toddler just ate some of my pills")
        assert r.state.triage == "poison"
        assert "1-800-222-1222" in r.replies[0].text
        assert not any(isinstance(e, FileRequest) for e in r.effects)


class TestSwitchAndOther:
    def test_switch_intent_mid_flow(self, chat, jordan):
        """'actually I need a refill of my crestor instead' switches flows."""
        c = chat(jordan)
        c.say("are my lab results back?")
        r = c.say("actually I need a refill of my crestor instead")
        assert r.state.intent == "refill"
        assert r.state.fields["medication"] == "Rosuvastatin 10 mg tablet"
        assert "test" not in r.state.fields

    def test_other_offers_menu_and_files_a_message(self, chat, jordan):
        """A billing question gets the menu and can still be written to the team."""
        c = chat(jordan)
        r = c.say("Who do I call about a claim denial letter?")
        assert r.state.intent == "other" and r.state.awaiting == "message"
        assert "Medication refill" in r.replies[-1].quick_replies
        c.say("Please check why my March claim was denied")
        assert c.state.awaiting == "confirm"
        r = c.say("yes")
        assert r.state.status == "filed"
        assert "March claim" in r.state.fields["message"]

    def test_menu_choice_after_greeting(self, chat, jordan):
        """'hello' then tapping 'Medication refill' starts the refill flow."""
        c = chat(jordan)
        c.say("hello there")
        r = c.say("Medication refill")
        assert r.state.intent == "refill" and r.state.awaiting == "medication"

    def test_tapping_a_greeting_button_starts_that_flow(self, chat, jordan):
        """The 'Symptom question' button asks for the symptom; the label is not the symptom."""
        r = chat(jordan).say("Symptom question")
        assert r.state.intent == "symptom" and r.state.awaiting == "symptom"
        assert r.state.fields == {}

    def test_low_confidence_asks_instead_of_guessing(self, chat, jordan):
        """An ambiguous opening gets a clarifying question with the menu."""
        r = chat(jordan).say("qwerty zzz")
        assert r.state.intent in (None, "other")
        assert "Appointment" in r.replies[-1].quick_replies


class TestState:
    def test_state_round_trips_through_json(self, chat, maria):
        """Every field of the state survives JSON: any process can serve the next turn."""
        c = chat(maria)
        c.say("Sophie needs her 12 month checkup")
        data = json.loads(json.dumps(c.state.to_dict()))
        assert ConversationState.from_dict(data) == c.state

    def test_handle_does_not_mutate_the_input_state(self, engine, jordan):
        from tests.conftest import CLINIC, NOW
        first = engine.handle(None, jordan, "I need a refill", clinic=CLINIC, now=NOW).state
        before = first.to_dict()
        engine.handle(first, jordan, "losartan", clinic=CLINIC, now=NOW)
        assert first.to_dict() == before


class TestNoJunkFromOpenings:
    def test_sick_call_is_not_a_phone_visit(self, chat, jordan):
        """'a sick call appt' names no visit type: the visit type is asked, not filed as phone."""
        c = chat(jordan)
        c.say("can i get a sick call appt for my lower back")
        assert "visit_type" not in c.state.fields
        c.say("tomorrow morning")
        assert c.state.awaiting == "visit_type"

    def test_having_called_is_not_a_phone_visit(self, chat, jordan):
        """'I called yesterday and nobody answered' says nothing about the visit type."""
        c = chat(jordan)
        c.say("I need an appointment for my knee, I called the clinic yesterday and nobody answered")
        assert "visit_type" not in c.state.fields

    def test_can_i_come_in_asks_the_visit_type(self, chat, jordan):
        """'Can I come in for that?' in an opening asks for a visit; it does not choose in person."""
        c = chat(jordan)
        c.say("I want my blood pressure checked. Can I come in for that?")
        assert "visit_type" not in c.state.fields
        c.say("Saturday")
        assert c.state.awaiting == "visit_type"
        c.say("I'd rather come in")
        assert c.state.fields["visit_type"] == "in_person"

    def test_past_time_is_not_a_preferred_time(self, chat, jordan):
        """'the rash I got 2 weeks ago' or 'for 3 days' in an appointment opening is not when to come."""
        c = chat(jordan)
        c.say("Can I get an appointment about the rash I got 2 weeks ago")
        assert "preferred_time" not in c.state.fields
        c = chat(jordan)
        c.say("My knee has hurt for 3 days, can I get an appointment?")
        assert "preferred_time" not in c.state.fields
        assert c.state.awaiting == "preferred_time"

    def test_time_of_day_is_not_an_onset(self, chat, jordan):
        """'waking up at 3am every night' tells when it happens, not when it started: onset is asked."""
        c = chat(jordan)
        # (not "I can't sleep, I've been waking up at 3am every night": the word model
        # sends that one to 988, a known false alarm listed in the README)
        c.say("trouble sleeping, waking up at 3am every night")
        assert "onset" not in c.state.fields
        assert c.state.awaiting == "onset"

    def test_test_name_keeps_what_it_checks(self, chat, jordan):
        """'my cholesterol labs' files 'cholesterol labs', not just 'labs'."""
        c = chat(jordan)
        c.say("Any update on my cholesterol labs? Got my blood drawn on the 5th.")
        assert c.state.fields["test"] == "cholesterol labs"
        assert c.state.awaiting == "confirm"

    def test_test_name_keeps_a_trailing_labs(self, chat, jordan):
        """'my kidney function labs' files 'kidney function labs'."""
        c = chat(jordan)
        c.say("are my kidney function labs back")
        assert c.state.fields["test"] == "kidney function labs"

    def test_test_name_leaves_out_dates_and_people(self, chat, jordan):
        """'mammogram on the 2nd' and 'hearing test for my son' file the test alone."""
        c = chat(jordan)
        c.say("I had a mammogram on the 2nd, are the results in?")
        assert c.state.fields["test"] == "mammogram"
        c = chat(jordan)
        c.say("I'm waiting on results of a hearing test for my son")
        assert c.state.fields["test"] == "hearing test"

    def test_two_names_for_one_test_are_kept_together(self, chat, jordan):
        """'my DEXA bone scan' files 'DEXA bone scan', and 'A1c and lipid panel' both tests."""
        c = chat(jordan)
        c.say("I had my DEXA bone scan on March 3rd. Are the results in?")
        assert c.state.fields["test"] == "DEXA bone scan"
        c = chat(jordan)
        c.say("are my A1c and lipid panel from Tuesday back yet")
        assert c.state.fields["test"] == "A1c and lipid panel"

    def test_tests_named_in_two_clauses_are_both_filed(self, chat, jordan):
        """'my uric acid level ...? And the kidney numbers' files both, in order; a clinic
        called Radiology Associates is no test beside the MRI."""
        c = chat(jordan)
        c.say("Can someone tell me my uric acid level from the blood work? And the kidney numbers while you're at it.")
        assert c.state.fields["test"] == "uric acid level, kidney numbers"
        c = chat(jordan)
        c.say("Got an MRI of my lower back at the off-base imaging place, Radiology Associates. "
              "Has Dr. Moss looked at the report yet?")
        assert c.state.fields["test"].startswith("MRI of my lower back")
        assert "Radiology" not in c.state.fields["test"]

    def test_a_habit_gone_by_is_not_self_care(self, chat, jordan):
        """'more than they used to' tried nothing; 'already on the gabapentin' did."""
        c = chat(jordan)
        c.say("My feet have been tingling and burning at night, more than they used to, and I'm already on the gabapentin.")
        assert "gabapentin" in c.state.fields["self_care"]

    def test_a_question_about_taking_a_medicine_is_not_self_care(self, chat, jordan):
        """'Is it ok to take Benadryl with my trazodone?' asks; 'what have you tried?' is still asked."""
        c = chat(jordan)
        c.say("Is it ok to take Benadryl with my trazodone? I'm having trouble sleeping.")
        assert "self_care" not in c.state.fields
        c = chat(jordan)
        c.say("My back has been sore since Saturday, I took ibuprofen and it did not help")
        assert "ibuprofen" in c.state.fields["self_care"]

    def test_a_sick_visit_asks_what_is_wrong(self, chat, maria):
        """'Can I book Sophie a sick visit?' says the kind of visit, not its reason: the reason is asked."""
        c = chat(maria)
        c.say("Can I book Sophie a sick visit?")
        assert c.state.fields["patient"] == "Sophie"
        assert c.state.awaiting == "reason"
        c = chat(maria)
        c.say("Can I book Sophie a sick visit for her ear infection?")
        assert "ear infection" in c.state.fields["reason"]


class TestReadBackSaysWhatWasSaid:
    def test_dont_know_to_clarify_is_not_part_of_the_symptom(self, chat, maria):
        """'I don't know' to 'is this about a symptom question?' is not added to the symptom."""
        c = chat(maria)
        c.say("Sophie has a wart on her finger that won't go away")
        assert c.state.awaiting == "intent"
        c.say("I don't know")
        assert c.state.intent == "symptom"
        assert c.state.fields["symptom"] == "Sophie has a wart on her finger that won't go away"

    def test_send_it_by_mail_order_files_mail_order(self, chat, jordan):
        """'no wait, send it by mail order instead' at the read-back files 'mail order', without 'send it by'."""
        c = chat(jordan)
        c.say("refill my losartan to the base pharmacy")
        c.say("no wait, send it by mail order instead")
        assert c.state.fields["pharmacy"] == "mail order"
        assert c.state.awaiting == "confirm"

    def test_pharmacy_is_filed_as_typed(self, chat, jordan):
        """'the Walgreens on 5th' is filed 'Walgreens on 5th', not the analysed 'walgreens on 5'."""
        c = chat(jordan)
        c.say("I ran out of my losartan, could you send more to the Walgreens on 5th?")
        assert c.state.fields["pharmacy"] == "Walgreens on 5th"

    def test_mail_order_name_is_not_spell_corrected(self, chat, jordan):
        """'Express Scripts' stays 'Express Scripts' (not the shorthand 'express prescriptions')."""
        c = chat(jordan)
        c.say("Please renew my Crestor and send it to Express Scripts home delivery")
        assert c.state.fields["pharmacy"] == "Mail order (Express Scripts)"

    def test_test_name_keeps_the_patients_spelling(self, chat, jordan):
        """'my CT scan of my belly' reads back 'CT scan of my belly'."""
        c = chat(jordan)
        c.say("I had a CT scan of my belly on March 3rd. Are the results in?")
        assert c.state.fields["test"] == "CT scan of my belly"

    def test_pharmacy_answer_without_pick_up_words(self, chat, jordan):
        """'I'll pick it up at the base pharmacy' files 'the base pharmacy'."""
        c = chat(jordan)
        c.say("refill my losartan please")
        c.say("I'll pick it up at the base pharmacy")
        assert c.state.fields["pharmacy"] == "the base pharmacy"

    def test_change_the_pharmacy_to_files_only_the_pharmacy(self, chat, jordan):
        """'no, change the pharmacy to CVS on Main St' at the read-back files 'CVS on Main St'."""
        c = chat(jordan)
        c.say("refill my losartan, mail order")
        c.say("no, change the pharmacy to CVS on Main St")
        assert c.state.fields["pharmacy"] == "CVS on Main St"
        assert c.state.awaiting == "confirm"

    def test_time_from_opening_is_filed_as_typed(self, chat, jordan):
        """'on March 3rd' in an opening reads back 'March 3rd', not the folded 'march 3 rd'."""
        c = chat(jordan)
        c.say("I had a CT scan of my belly on March 3rd. Are the results in?")
        assert c.state.fields["test_date"] == "March 3rd"


class TestAnswersUnderstood:
    def test_severity_as_a_number_on_the_scale(self, chat, jordan):
        """'about a 6' to 'how bad is it' is moderate, not asked again."""
        c = chat(jordan)
        c.say("my knee hurts")
        c.say("since friday")
        assert c.state.awaiting == "severity"
        c.say("it's about a 6")
        assert c.state.fields["severity"] == "moderate"
        assert c.state.awaiting == "self_care"


    def test_unlisted_kind_of_drug_is_kept_as_typed(self, chat, jordan):
        """Asked which medication, 'the water pill' with no diuretic on the list is kept as typed, not asked three times."""
        c = chat(jordan)
        c.say("I need a refill")
        c.say("the water pill")
        assert c.state.fields["medication"] == "the water pill"
        assert c.state.awaiting == "pharmacy"

    def test_my_meds_is_asked_again(self, chat, jordan):
        """'my meds' names no medication: the question is asked again instead of filing 'my meds'."""
        c = chat(jordan)
        c.say("I need a refill")
        c.say("my meds")
        assert "medication" not in c.state.fields
        assert c.state.awaiting == "medication"

    def test_negated_visit_type_is_ruled_out(self, chat, jordan):
        """'in person, I don't do the video thing' is an in-person visit, not a video one."""
        c = chat(jordan)
        c.say("I need a follow up for my blood pressure, any weekday morning")
        c.say("in person, I don't do the video thing")
        assert c.state.fields["visit_type"] == "in_person"

    def test_not_minding_video_still_chooses_it(self, chat, jordan):
        """'I would not mind a video visit' is a choice of video."""
        c = chat(jordan)
        c.say("I need a follow up for my blood pressure, any weekday morning")
        c.say("I would not mind a video visit")
        assert c.state.fields["visit_type"] == "virtual"

    def test_a_hedge_is_not_no_preference(self, chat, jordan):
        """'not suicidal or anything like that' in an opening does not answer the visit-type question."""
        c = chat(jordan)
        c.say("I'm not suicidal or anything like that, but my anxiety is worse and I want to talk to someone in behavioral health")
        assert "visit_type" not in c.state.fields

    def test_unknown_reason_files_the_opening(self, chat, jordan):
        """'I don't know' to 'what is the visit for?' files the opening words instead of asking forever."""
        c = chat(jordan)
        c.say("I need an appointment please, a phone call is fine")
        assert c.state.awaiting == "reason"
        c.say("I don't know")
        assert c.state.fields["reason"].startswith("I need an appointment")
        assert c.state.awaiting == "preferred_time"

    def test_self_care_answer_naming_a_medicine_is_not_an_overdose(self, chat, jordan):
        """'took my imitrex and laid down' answers what was tried: the bot files, it does not send to Poison Control."""
        c = chat(jordan)
        c.say("usual migraine, no numbness or weakness, vision fine, just lasting longer than usual")
        for answer in ("started yesterday afternoon", "moderate", "took my imitrex and laid down in the dark"):
            r = c.say(answer)
        assert not any(isinstance(e, Redirect) for e in r.effects)
        assert r.state.awaiting == "confirm"


class TestNotAskedTwice:
    def test_greeting_word_is_not_part_of_the_reason(self, chat, jordan):
        """'yo can i get an appt for my lower back' files the reason without 'yo'."""
        c = chat(jordan)
        c.say("yo can i get an appt for my lower back")
        assert c.state.fields["reason"] == "can i get an appt for my lower back"

    def test_seen_about_names_the_reason(self, chat, jordan):
        """'I would like to be seen about my prostate' says what the visit is for."""
        c = chat(jordan)
        c.say("I would like to be seen about my prostate. A phone appointment is fine.")
        assert "prostate" in c.state.fields["reason"]
        assert c.state.fields["visit_type"] == "phone"
        assert c.state.awaiting == "preferred_time"

    def test_visit_to_go_over_something_has_its_reason(self, chat, jordan):
        """'a video visit to go over my medications' already says what the visit is for."""
        c = chat(jordan)
        c.say("Schedule a video visit to go over my medications")
        assert "go over my medications" in c.state.fields["reason"]
        assert c.state.awaiting == "preferred_time"

    def test_time_question_fits_a_video_visit(self, chat, jordan):
        """With a video visit asked for, the time question does not say 'come in'."""
        c = chat(jordan)
        r = c.say("Could I set up a telehealth visit to go over my migraine meds?")
        assert r.state.awaiting == "preferred_time"
        assert "video visit" in c.text and "come in" not in c.text

    def test_pick_up_words_dropped_in_a_pharmacy_correction(self, chat, jordan):
        """'no, I'll pick it up at the base pharmacy instead' at the read-back files 'the base pharmacy'."""
        c = chat(jordan)
        c.say("refill my losartan, mail order")
        c.say("no, I\u2019ll pick it up at the base pharmacy instead")
        assert c.state.fields["pharmacy"] == "the base pharmacy"


class TestWording:
    def test_other_menu_asks_for_the_message_once(self, chat, jordan):
        """An 'other' opening gets the menu and one question for the message, not the same offer twice."""
        c = chat(jordan)
        c.say("Who do I call about a claim denial letter?")
        assert c.text.count("pass") == 1
        assert "what would you like to tell your care team?" in c.text.lower()

    def test_clarify_names_the_request_with_an_article(self, chat, jordan):
        """The clarifying question reads 'Is this about a symptom question', not 'about symptom question'."""
        c = chat(jordan)
        r = c.say("question on my inhaler")
        assert r.state.awaiting == "intent"
        assert "about a symptom question" in c.text

    def test_filed_message_is_not_called_a_request(self, chat, jordan):
        """Filing a message to the team says 'your message is on its way', not 'your message to my care team request'."""
        c = chat(jordan)
        c.say("Who do I call about a claim denial letter?")
        c.say("Please check why my March claim was denied")
        c.say("yes")
        assert "your message is on its way" in c.text


class TestSafetyQuestion:
    """Only the word model found it urgent: one safety question, then recall first."""

    @pytest.fixture
    def alarmed(self, alarmed_engine):
        return lambda patient: Chat(alarmed_engine, patient)

    OPENING = "my knee has a zorblax feeling again today"

    def test_asks_instead_of_refusing(self, alarmed, jordan):
        """The patient is asked, with yes / no / not sure buttons; nothing is refused yet."""
        c = alarmed(jordan)
        r = c.say(self.OPENING)
        assert not r.effects
        assert r.state.awaiting == "safety" and r.state.status == "collecting"
        assert "happening right now and severe" in c.text
        assert r.replies[-1].quick_replies == ("Yes", "No", "I'm not sure")

    def test_a_clear_no_goes_on_and_staff_see_the_check(self, alarmed, jordan):
        """'No' carries on with the opening as the rules read it; the filing says it was asked."""
        c = alarmed(jordan)
        c.say(self.OPENING)
        r = c.say("no, nothing like that")
        assert "If that changes, call 911" in c.text
        assert r.state.intent == "symptom" and r.state.awaiting == "severity"
        assert "knee" in r.state.fields["symptom"] and "today" in r.state.fields["onset"]
        c.say("mild")
        c.say("ice")
        filed = [e for e in c.say("yes").effects if isinstance(e, FileRequest)]
        assert filed and filed[0].safety_checked == "emergency"
        assert filed[0].patient_words[:2] == (self.OPENING, "no, nothing like that")

    @pytest.mark.parametrize("answer", ["Yes", "I'm not sure", "I don't know", "maybe, it comes and goes",
                                        "no... well yes", "just book me something"])
    def test_anything_but_a_clear_no_sends_them_on(self, alarmed, jordan, answer):
        """Yes, unsure, unknown or an unrelated answer: the redirect the model asked for."""
        c = alarmed(jordan)
        c.say(self.OPENING)
        r = c.say(answer)
        assert [e for e in r.effects if isinstance(e, Redirect)] == [Redirect("emergency", "learned_model")]
        assert r.state.status == "redirected" and "call 911" in c.text
        assert r.state.intent == "symptom"  # what the opening asked about, not the answer

    def test_an_urgent_answer_is_redirected_at_its_own_level(self, alarmed, jordan):
        """'No, but I want to kill myself' is a crisis, whatever was asked."""
        c = alarmed(jordan)
        c.say(self.OPENING)
        r = c.say("no, but honestly I want to kill myself")
        assert r.effects[0].level == "crisis"

    def test_a_rule_alarm_is_never_questioned(self, alarmed, jordan):
        """Red-flag words redirect at once, as before."""
        r = alarmed(jordan).say("crushing chest pain and my left arm is numb")
        assert r.effects and r.effects[0].level == "emergency" and r.state.awaiting is None

    def test_mid_flow_alarm_resumes_the_question_it_interrupted(self, alarmed, jordan):
        """An alarm on an answer asks, and a no files that answer where it was going."""
        c = alarmed(jordan)
        c.say("I need an appointment please")
        assert c.state.awaiting == "reason"
        c.say("a zorblax feeling in my knee since the hike")
        assert c.state.awaiting == "safety"
        r = c.say("nope")
        assert "zorblax" in r.state.fields["reason"] and r.state.awaiting == "preferred_time"

    def test_asked_once_per_level(self, alarmed, jordan):
        """Told no about an emergency, the same alarm later is not asked again; a crisis one is."""
        c = alarmed(jordan)
        c.say("I need an appointment please")
        assert c.state.awaiting == "reason"
        c.say("the zorblax in my knee keeps coming back")
        c.say("no")
        assert "zorblax" in c.state.fields["reason"]
        c.say("start over")
        c.say("I need an appointment about the zorblax in my knee")  # the same alarm: not asked again
        assert c.state.intent == "appointment" and c.state.awaiting != "safety"
        c.say("start over")
        r = c.say("I need an appointment about the glorbin thoughts I keep having")
        assert r.state.awaiting == "safety" and "thoughts of ending your life" in c.text


class TestAnswersInTheirOwnWords:
    """Answers from the blind conversation scripts of round 9, each once misread."""

    def test_resetting_a_login_is_not_start_over(self, chat, jordan):
        c = chat(jordan)
        c.say("I can't log into the patient portal, it says my password expired")
        r = c.say("Please have someone call me about resetting my login. Phone is best.")
        assert r.state.intent == "other" and "resetting my login" in r.state.fields.get("message", "")

    def test_dont_worry_about_it_cancels(self, chat, jordan):
        c = chat(jordan)
        c.say("Can I get my lab results?")
        r = c.say("you know what, don't worry about it, the doctor is calling me Friday anyway")
        assert cancelled(r)

    def test_any_day_is_the_time_not_the_visit_type(self, chat, jordan):
        """'A phone call is fine, any day next week after lunch': phone, and the day is open."""
        c = chat(jordan)
        c.say("I'd like a follow up about my diabetes numbers. A phone call is fine, any day next week after lunch.")
        assert c.state.fields["visit_type"] == "phone"
        assert "next week" in c.state.fields["preferred_time"]

    def test_the_reason_against_a_visit_type_is_not_a_choice(self, chat, jordan):
        c = chat(jordan)
        c.say("I need an appointment about my memory, mornings please")
        c.say("in person, I'm no good with the video")
        assert c.state.fields["visit_type"] == "in_person"

    def test_nothing_yet_but_something_is_kept(self, chat, jordan):
        c = chat(jordan)
        for text in ("my arm has a rash", "yesterday", "mild"):
            c.say(text)
        c.say("nothing yet, just washed it with soap")
        assert "soap" in c.state.fields["self_care"]

    def test_how_long_a_test_ran_is_not_when(self, chat, jordan):
        c = chat(jordan)
        r = c.say("Did the results from my heart monitor come in? The one I wore for two weeks.")
        assert r.state.awaiting == "test_date" and "monitor" in r.state.fields["test"]

    def test_a_deadline_is_not_the_wanted_time(self, chat, jordan):
        c = chat(jordan)
        r = c.say("I need an appointment, my profile for my knee expires next week and I need it renewed")
        assert r.state.awaiting == "preferred_time"

    def test_a_message_to_the_pcm_is_the_message_flow(self, chat, jordan):
        """'Send a message to my PCM' is not a visit; what the message says is screened."""
        c = chat(jordan)
        r = c.say("I want to send a message to my PCM")
        assert r.state.intent == "other" and r.state.awaiting == "message"
        r = c.say("tell her I have decided to end my life this weekend")
        assert r.effects and r.effects[0].level == "crisis"


class TestSameDayUnsure:
    """A same-day alarm from the word model alone, answered "not sure": the nurse line now,
    and the request goes on, marked so staff call first (no life is at stake this minute)."""

    @pytest.fixture
    def alarmed(self, alarmed_engine):
        return lambda patient: Chat(alarmed_engine, patient)

    @pytest.mark.parametrize("answer", ["I'm not sure", "I don't know", "idk"])
    def test_not_sure_gets_the_nurse_line_and_goes_on(self, alarmed, jordan, answer):
        c = alarmed(jordan)
        c.say("my ankles have a zindrox look since last week")
        assert c.state.awaiting == "safety"
        r = c.say(answer)
        assert not [e for e in r.effects if isinstance(e, Redirect)]
        assert "Nurse Advice Line" in c.text and r.state.intent == "symptom"
        while r.state.awaiting not in ("confirm", None):
            r = c.say("mild" if r.state.awaiting == "severity" else "nothing yet")
        filed = [e for e in c.say("yes").effects if isinstance(e, FileRequest)]
        assert filed and filed[0].safety_checked == "same_day" and filed[0].safety_unsure

    def test_yes_still_sends_them_on(self, alarmed, jordan):
        c = alarmed(jordan)
        c.say("my ankles have a zindrox look since last week")
        r = c.say("yes")
        assert [e.level for e in r.effects if isinstance(e, Redirect)] == ["same_day"]

    def test_an_emergency_alarm_answered_not_sure_still_redirects(self, alarmed, jordan):
        c = alarmed(jordan)
        c.say("my knee has a zorblax feeling again today")
        r = c.say("not sure")
        assert [e.level for e in r.effects if isinstance(e, Redirect)] == ["emergency"]


class TestRound11And12Answers:
    """Answers from the blind conversation scripts of rounds 11 and 12, each once misread."""

    def test_a_ruled_out_video_is_not_chosen(self, chat, jordan):
        """'I don't do the computer video' after 'in person please' is in person."""
        c = chat(jordan)
        c.say("I need a follow up about my blood pressure, Tuesday afternoon")
        r = c.say("In person please, I don't do the computer video.")
        assert r.state.fields["visit_type"] == "in_person"

    def test_virtual_wont_work_leaves_the_visit_type_to_ask(self, chat, jordan):
        """'Virtual won't work' rules one out; it chooses none, and a lapsing date is no wish."""
        c = chat(jordan)
        r = c.say("I need my annual flight physical, it lapses at the end of next month. Virtual won't work obviously.")
        assert "visit_type" not in r.state.fields and "preferred_time" not in r.state.fields

    def test_the_date_of_a_visit_to_move_is_not_the_wanted_time(self, chat, jordan):
        c = chat(jordan)
        r = c.say("I have an appointment on the 14th for my INR check but my daughter can't drive me. Can it be moved?")
        assert r.state.intent in ("appointment", None) and "preferred_time" not in r.state.fields

    def test_the_first_child_named_is_the_one(self, chat, maria):
        """'Sophie for now, I'll do Lucas's separately' is for Sophie."""
        c = chat(maria)
        c.say("The kids' school needs updated immunization forms")
        r = c.say("Sophie for now, I'll do Lucas's separately")
        assert r.state.fields["patient"] == "Sophie"

    def test_thank_you_is_not_a_childs_name(self, chat):
        """'yes thank you' confirms; it does not change the request to Ethan."""
        from micare_bot.models import Dependent, PatientContext
        dana = PatientContext("Dana Cole", 40, ("Sertraline 50 mg tablet",), (Dependent("Ethan", 9),))
        c = chat(dana)
        c.say("sertraline refill please, mail order")
        c.say("myself")
        r = c.say("yes thank you!!")
        filed = [e for e in r.effects if isinstance(e, FileRequest)]
        assert filed and filed[0].patient == "self"

    def test_a_message_of_several_sentences_is_the_message(self, chat, jordan):
        """Asked what to tell the team, 'My address changed. ... Please update my file.' is filed as said."""
        c = chat(jordan)
        c.say("My address changed, where do I update it?")
        r = c.say("My address changed. New one is 4410 Eagle Ridge Dr, Apt 2B. Please update my file.")
        assert r.state.intent == "other" and "Eagle Ridge" in r.state.fields["message"]

    def test_a_request_in_the_first_sentence_still_switches(self, chat, maria):
        c = chat(maria)
        c.say("i need help")
        r = c.say("I need to make an appointment for Sophie, she's due for her 12 month checkup")
        assert r.state.intent == "appointment"

    @pytest.mark.parametrize("answer", [
        "hold on, actually I just found a full bottle in the cabinet. never mind, cancel that",
        "oh shoot, HR says they already got it from my old employer. cancel please",
        "Ah sorry, my daughter made the appointment already. No need",
    ])
    def test_a_cancel_at_the_end_of_a_story_cancels(self, chat, jordan, answer):
        c = chat(jordan)
        c.say("can I get my losartan refilled")
        r = c.say(answer)
        assert r.state.status == "cancelled" and cancelled(r)

    def test_cancel_my_appointment_is_still_a_request(self, chat, jordan):
        r = chat(jordan).say("cancel my appointment on friday")
        assert r.state.intent == "appointment"

    def test_a_correction_naming_no_field_is_noted_for_the_team(self, chat, jordan):
        """'It's actually the left shoulder, not the right' is not a yes: it goes into the symptom."""
        c = chat(jordan)
        c.say("My right shoulder's been aching")
        while c.state.awaiting != "confirm":
            c.say({"onset": "about 10 days ago", "severity": "moderate"}.get(c.state.awaiting, "ice and Aleve"))
        r = c.say("one thing, it's actually the left shoulder not the right, sorry, long day")
        assert not r.effects and r.state.awaiting == "confirm"
        assert "left shoulder" in r.state.fields["symptom"]
        assert [e for e in c.say("yes").effects if isinstance(e, FileRequest)]

    @staticmethod
    def _dont_know_while_asked(c: Chat, field: str, times: int = 5) -> None:
        for _ in range(times):
            if c.state.awaiting != field:
                break
            c.say("I don't know")

    def test_an_unrated_severity_is_filed_not_sure_after_three_tries(self, chat, jordan):
        c = chat(jordan)
        c.say("I have a rash on my arm since Monday")
        self._dont_know_while_asked(c, "severity")
        assert c.state.fields.get("severity") == "not_sure"

    def test_a_pharmacy_never_named_does_not_loop(self, chat, jordan):
        c = chat(jordan)
        c.say("refill my losartan")
        self._dont_know_while_asked(c, "pharmacy")
        assert c.state.awaiting == "confirm" and "not sure" in c.state.fields["pharmacy"]

    def test_hot_tea_for_a_cough_is_no_burn(self, chat, jordan):
        c = chat(jordan)
        c.say("Hello, I have cough since one week, not going away")
        r = c.say("I drink hot tea with honey and take the Tylenol")
        assert not [e for e in r.effects if isinstance(e, Redirect)]

    def test_a_temperature_under_fever_is_no_fever(self, chat, maria):
        c = chat(maria)
        c.say("Sophie has been tugging at her ear and cranky since last night, temp was 99.5")
        while c.state.awaiting not in ("confirm", None):
            # the word model may ask its same-day question of the opening (since the round-16
            # refit it does); the rules' reading of 99.5 as no fever is what is tested here
            r = c.say({"severity": "mild i guess? she's still eating fine", "safety": "no"}.get(
                c.state.awaiting, "children's tylenol once at bedtime"))
        assert c.state.awaiting == "confirm"


def test_a_deliberate_overdose_gets_poison_control_and_the_crisis_line(chat, jordan):
    """Pills already swallowed on purpose: Poison Control first (SPEC §3), and 988 as well."""
    r = chat(jordan).say("I took a whole bottle of my sleeping pills on purpose about an hour ago")
    assert [e.level for e in r.effects if isinstance(e, Redirect)] == ["poison"]
    text = " ".join(reply.text for reply in r.replies)
    assert "1-800-222-1222" in text and "988" in text


def test_a_child_named_in_an_answer_is_screened_as_a_child(chat, maria):
    """'found Lucas with the bottle open' in a pharmacy answer is a child into the pills, as
    'found my son with the bottle open' is: Poison Control, nothing filed (round 13, cv9-027)."""
    c = chat(maria)
    c.say("Refill on my escitalopram please")
    c.say("me")
    r = c.say("base pharmacy. OH MY GOD i just found Lucas with the bottle open on the floor, "
              "i don't know how many he ate")
    assert [e.level for e in r.effects if isinstance(e, Redirect)] == ["poison"]
    assert not [e for e in r.effects if isinstance(e, FileRequest)]


def test_a_childs_name_alone_changes_nothing(chat, maria):
    c = chat(maria)
    c.say("Refill on my escitalopram please")
    c.say("me")
    r = c.say("the base pharmacy, Lucas and I will pick it up after school")
    assert r.state.awaiting == "confirm"


def test_i_meant_the_other_medication_at_the_confirm_step(chat):
    """'No, I meant the furosemide, I still have plenty of the losartan' names two of the list:
    the one not already in the request is meant (round 13, cv9-043)."""
    from micare_bot.models import PatientContext
    dorothy = PatientContext("Dorothy Kline", 81, ("Losartan 50 mg tablet", "Furosemide 20 mg tablet"))
    c = chat(dorothy)
    c.say("I need my losartan refilled please, mail order")
    r = c.say("Oh dear, no, I meant the furosemide, the water pill. I still have plenty of the losartan.")
    assert r.state.fields["medication"] == "Furosemide 20 mg tablet" and r.state.awaiting == "confirm"


def test_not_knowing_what_to_change_shows_the_summary_again(chat, jordan):
    c = chat(jordan)
    c.say("refill my losartan to the base pharmacy")
    c.say("no")
    assert c.state.awaiting == "change"
    r = c.say("I don't know")
    assert r.state.awaiting == "confirm" and "Shall I send it?" in c.text


class TestRound13Answers:
    """Answers from round 13's blind conversation scripts (cv9), each once misread."""

    @pytest.mark.parametrize("who,opening,expected", [
        # 'for sugar and cholesterol' files both, not 'for sugar' alone (cv9-075)
        ("jordan", "I do the blood test for sugar and cholesterol, when I get the result?",
         {"test": "blood test for sugar and cholesterol"}),
        # 'they checked his iron' tells the team which blood work (cv9-004)
        ("maria", "hi was wondering if Lucas's blood work came back? they checked his iron at his checkup",
         {"test": "blood work (iron)", "patient": "Lucas"}),
        # 'my medicine for depression' is the escitalopram on the list (cv9-034)
        ("maria", "Hello, I need more my medicine for depression, is finish in 3 day.",
         {"medication": "Escitalopram 10 mg tablet"}),
        # the one after 'instead of' is turned down
        ("maria", "Lucas needs his shot record for school, I'll pick it up instead of mail", {"delivery": "pickup"}),
    ])
    def test_fields_read_from_the_opening(self, chat, request, who, opening, expected):
        r = chat(request.getfixturevalue(who)).say(opening)
        assert {name: r.state.fields.get(name) for name in expected} == expected

    def test_a_test_ruled_out_at_the_read_back_is_replaced(self, chat, jordan):
        """'it was the MRI of my shoulder, not an xray' changes the test (cv9-022)."""
        c = chat(jordan)
        c.say("checking on my xray results")
        c.say("monday")
        r = c.say("oh sorry it was the MRI of my shoulder, not an xray")
        assert r.state.fields["test"] == "MRI of my shoulder" and r.state.awaiting == "confirm"

    def test_pick_up_instead_when_the_mail_is_slow(self, chat, maria):
        """'can I just pick it up instead? mail on base is so slow' is pickup (cv9-056)."""
        c = chat(maria)
        c.say("Sophie starts daycare in August and they want her shot record")
        c.say("mail")
        assert c.state.fields["delivery"] == "mail"
        r = c.say("actually can I just pick it up instead? mail on base is so slow")
        assert r.state.fields["delivery"] == "pickup"


@pytest.mark.parametrize("turns", [
    # round 14 (cv10): read as a scald, with "cough" as the airway sign
    ["I have had a cough for about two weeks now and it is not going away", "since the 1st",
     "moderate it is keeping me up at night", "Robitussin and honey in hot water"],
    # round 15 (cv11-037): sent to Poison Control as a second acetaminophen product
    ["I've had a sore throat and a stuffy nose since Sunday", "mild, it's just annoying, I'm still going to work",
     "tea with honey and some DayQuil"],
])
def test_what_was_tried_for_a_cold_is_no_alarm(chat, jordan, turns):
    c = chat(jordan)
    for text in turns:
        r = c.say(text)
    assert not [e for e in r.effects if isinstance(e, Redirect)] and r.state.awaiting == "confirm"


class TestRound14Answers:
    """Answers from round 14's blind conversation scripts (cv10), each once misread."""

    def test_a_crisis_told_as_the_wanted_time_is_not_filed(self, chat, jordan):
        """'whenever. honestly I dont know if I'll still be here, I've been planning how to end
        things' as the time answer goes to 988 (cv10-062 was filed)."""
        c = chat(jordan)
        c.say("I want to talk to someone about my drinking")
        r = c.say("whenever. honestly I dont know if I'll still be here, I've been planning how to end things")
        assert [e.level for e in r.effects if isinstance(e, Redirect)] == ["crisis"]
        assert not [e for e in r.effects if isinstance(e, FileRequest)]

    def test_hold_off_at_the_read_back_cancels(self, chat, jordan):
        c = chat(jordan)
        c.say("can I schedule a physical, friday mornings, in person")
        r = c.say("hold off, dont book it yet, I need to check my husband's duty schedule first and I'll message back")
        assert cancelled(r)

    def test_cancel_that_is_not_start_over(self, chat, jordan):
        """'no cancel that, she's switching me to something else' cancels (cv10-047)."""
        c = chat(jordan)
        c.say("refill my losartan to the base pharmacy please")
        r = c.say("no cancel that, Dr Morris said she's switching me to something else at my next visit")
        assert cancelled(r)

    def test_doing_it_myself_cancels_rather_than_switching(self, chat, jordan):
        c = chat(jordan)
        c.say("can I get a copy of my shot record")
        r = c.say("hmm actually don't worry about it, I'll pull it off MilConnect myself")
        assert cancelled(r)

    def test_a_message_that_dropped_something_off_is_filed(self, chat, jordan):
        """'I dropped it off at the front desk monday. Thanks' is a message, not a cancel (cv10-025)."""
        c = chat(jordan)
        c.say("I need to send a note to my PCM about some paperwork")
        c.say("Hi Dr. Nguyen, my employer needs the FMLA form filled out for my mom's surgery recovery. "
              "I dropped it off at the front desk monday. Thanks")
        assert "FMLA" in c.state.fields.get("message", "") and c.state.status != "cancelled"

    def test_a_message_to_a_named_doctor_is_a_message(self, chat, jordan):
        """'Can you pass a message to Dr. Patel? ... the new blood pressure med' is not a refill (cv10-009)."""
        c = chat(jordan)
        r = c.say("Can you pass a message to Dr. Patel? I wanted to let her know how the new blood pressure med is going")
        assert r.state.intent == "other"

    def test_a_message_asking_the_team_to_cancel_something_is_filed(self, chat, jordan):
        """A message for the team may ask them to cancel a referral: it is the message (cv10-074)."""
        c = chat(jordan)
        c.say("I'm writing for my father, I want to leave a note for his doctor")
        r = c.say("Dad got approved for the VA hearing aid program so he won't need the audiology referral "
                  "anymore, please cancel it. Thanks, Susan (daughter)")
        assert "audiology" in r.state.fields.get("message", "") and r.state.awaiting == "confirm"

    @pytest.mark.parametrize("answer", ["never mind, I'll just talk to her at my appointment Thursday",
                                        "nvm i'll just call the front desk tomorrow"])
    def test_a_message_that_opens_with_never_mind_cancels(self, chat, jordan, answer):
        c = chat(jordan)
        c.say("I want to send a message to Dr. Adams")
        r = c.say(answer)
        assert cancelled(r)


class TestRound15Answers:
    """Answers from round 15's blind conversation scripts (cv11), each once misread."""

    def test_an_answer_that_thinks_aloud_keeps_its_first_choice(self, chat, jordan):
        c = chat(jordan)
        c.say("i need to make an appointment for a sports physical, soccer tryouts are in 3 weeks")
        c.say("in person i guess, can they do it over video? probably not lol so in person")
        assert c.state.fields["visit_type"] == "in_person"

    @pytest.mark.parametrize("opening, purpose", [
        ("i need my vaccine record for cross country, coach says we have to turn it in friday", "sports"),
        ("I'm going to visit my abuela in Honduras in June and want a copy of my vaccines to bring", "travel"),
    ])
    def test_purpose_from_the_opening(self, chat, jordan, opening, purpose):
        c = chat(jordan)
        c.say(opening)
        assert c.state.fields["purpose"] == purpose

    def test_a_deployed_husband_at_the_read_back_is_no_new_purpose(self, chat, maria):
        c = chat(maria)
        c.say("The Child Development Center on base needs an updated shot record for Lucas")
        c.say("secure message please")
        c.say("actually can you mail it instead? my printer's broken and my husband's deployed so I can't borrow his")
        assert (c.state.fields["purpose"], c.state.fields["delivery"]) == ("childcare", "mail")

    def test_a_month_or_so_back_is_the_onset(self, chat, jordan):
        c = chat(jordan)
        r = c.say("My feet tingle at night, started a month or so back")
        assert "month" in r.state.fields.get("onset", "") and r.state.awaiting != "onset"

    def test_a_medication_the_patient_cannot_pick_is_filed_as_the_ones_it_could_be(self, chat):
        patient = PatientContext("Walt Ames", 70, ("Tamsulosin 0.4 mg capsule", "Finasteride 5 mg tablet"))
        c = chat(patient)
        c.say("I need my prostate pill refilled, the one I take at bedtime")
        for _ in range(3):
            c.say("I don't know")
        assert c.state.fields["medication"] == "not sure which: Tamsulosin 0.4 mg capsule or Finasteride 5 mg tablet"

    def test_no_forget_it_takes_back_a_message(self, chat, jordan):
        c = chat(jordan)
        c.say("I have a question about a bill I got")
        r = c.say("no, forget it, I'll just call the billing office instead. cancel")
        assert cancelled(r)

    @pytest.mark.parametrize("opening, intent", [
        ("I need to get one of the kids seen for an ear check", "appointment"),
        ("my son Caleb got stung by a bee at recess", "symptom"),
        # round 16
        ("My husband is deployed and I need to update our address in the system, we moved off base last month",
         "other"),
        ("can you send the peanut allergy letter for the cafeteria", "other"),
        ("School counselor wants a letter from the doctor about his anxiety for his 504 plan, he's doing ok", "other"),
        ("referral to nephrology status? submitted 3 weeks ago", "other"),
        # round 17: a 7-week-old with 100.8 had been filed as a message for the team
        ("my baby feels warm", "symptom"),
    ])
    def test_the_request_of_the_opening(self, chat, maria, opening, intent):
        c = chat(maria)
        c.say(opening)
        assert c.state.intent == intent or c.state.guess == intent

    def test_a_greeting_is_not_part_of_the_reason(self, chat, jordan):
        c = chat(jordan)
        c.say("Hey there, I'm a reservist and just got activated, I need my PHA physical done")
        assert c.state.fields["reason"].startswith("I'm a reservist")

    def test_taking_back_a_request_is_no_safety_question(self, chat, jordan):
        """'never mind, I'll just call TRICARE myself' cancels: the word model alone read
        'myself' as a crisis and asked the safety question (cv6-078 after the round-14 refit)."""
        c = chat(jordan)
        c.say("I have a question about my TRICARE enrollment.")
        r = c.say("never mind, I'll just call TRICARE myself")
        assert cancelled(r) and not r.state.awaiting

    def test_records_missing_from_the_portal_are_a_message(self, chat, maria):
        c = chat(maria)
        c.say("I can't see my son's records in the portal, it only shows mine")
        assert c.state.intent == "other"


class TestRound16Answers:
    """Openings and answers from round 16's blind conversation scripts (cv12), each once misread."""

    def test_a_vague_reason_is_asked_about(self, chat, jordan):
        """'I've been feeling off' says nothing the care team can act on; the question that
        follows caught stroke signs the opening never mentioned."""
        c = chat(jordan)
        r = c.say("Make me an appointment, I've been feeling off")
        assert r.state.awaiting == "reason"
        r = c.say("my face feels droopy on one side and my words are coming out slurred since this morning")
        assert redirected(r, "emergency")

    def test_a_named_complaint_is_still_the_reason(self, chat, jordan):
        c = chat(jordan)
        r = c.say("I need an appointment, I've been feeling dizzy for a week")
        assert "dizzy" in r.state.fields.get("reason", "") and r.state.awaiting != "reason"

    def test_a_question_that_names_only_its_subject_asks_what_is_happening(self, chat, jordan):
        """'I have a question about my pregnancy' is a subject, not a symptom: the bot asks,
        and the answer is screened ('soaking a pad every hour' is an emergency)."""
        c = chat(jordan)
        r = c.say("I have a question about my pregnancy.")
        if r.state.awaiting == "intent":
            r = c.say("a symptom question")
        assert r.state.awaiting == "symptom"
        r = c.say("I'm bleeding a lot, soaking a pad every hour, with cramping")
        assert redirected(r, "emergency")
        c = chat(jordan)
        c.say("Question about my rash: it's itchy and spreading on both arms since Saturday")
        assert "rash" in c.state.fields.get("symptom", "")

    def test_a_generic_test_is_asked_which(self, chat, jordan):
        c = chat(jordan)
        r = c.say("did my labs come back")
        assert r.state.awaiting == "test"
        c.say("the lipid panel from my PHA")
        assert "lipid" in c.state.fields["test"]

    def test_not_sure_which_test_files_the_one_the_opening_named(self, chat, jordan):
        c = chat(jordan)
        c.say("did my bloodwork come back yet")
        r = c.say("I don't know")
        assert r.state.fields["test"].lower() == "bloodwork" and r.state.awaiting == "test_date"

    def test_a_named_test_is_not_asked_again(self, chat, jordan):
        c = chat(jordan)
        r = c.say("are my A1C results back")
        assert "a1c" in r.state.fields["test"].lower() and r.state.awaiting != "test"

    @pytest.mark.parametrize("answer", ["Sofia, she turns 1 next week", "Sofia, her birthday is next week"])
    def test_a_birthday_is_no_preferred_time(self, chat, maria, answer):
        c = chat(maria)
        c.say("Can I get a well child check scheduled")
        r = c.say(answer.replace("Sofia", maria.dependents[0].name))
        assert "preferred_time" not in r.state.fields

    def test_a_report_date_is_no_preferred_time(self, chat, jordan):
        c = chat(jordan)
        r = c.say("I need my PHA physical done before I report next month, can I get in for that?")
        assert "preferred_time" not in r.state.fields


    def test_a_gout_flare_treated_with_the_usual_pill_is_no_drug_reaction(self, chat):
        """A swollen big toe and "took my allopurinol" read as a rash from a new drug (same day)."""
        patient = PatientContext("George Mills", 73, ("Allopurinol 100 mg tablet", "Amlodipine 5 mg tablet"))
        c = chat(patient)
        for said in ("My big toe is swollen again, I think the gout is back", "woke up with it yesterday",
                     "moderate, hurts to put a shoe on"):
            r = c.say(said)
            if r.state.awaiting == "safety":
                r = c.say("I don't know")  # unsure at the same-day question: the request goes on
        r = c.say("ice, kept it up, took my allopurinol")
        assert not any(isinstance(e, Redirect) for e in r.effects) and r.state.fields["severity"] == "moderate"


class TestRound17Answers:
    """Openings and answers from round 17's blind conversation scripts (cv13), each once misread."""

    def test_feeling_crummy_together_is_asked_what_is_wrong(self, chat, maria):
        """The answer named carbon monoxide; the vague opening had been filed as the reason."""
        c = chat(maria)
        c.say("can Lucas and I get seen? we both feel crummy")
        if c.state.awaiting == "patient":
            c.say("Lucas. and me")
        assert c.state.awaiting == "reason"
        r = c.say("headaches and dizzy, both of us, since we turned the furnace on. the CO alarm chirped last night")
        assert redirected(r, "poison")

    def test_what_the_visit_is_for_does_not_turn_it_into_a_symptom_question(self, chat, jordan):
        c = chat(jordan)
        c.say("Appointment please")
        assert c.state.awaiting == "reason"
        c.say("Trouble sleeping for like a month, I wake up at 3. Also want to ask about my thyroid dose while I'm there")
        assert c.state.intent == "appointment" and "sleeping" in c.state.fields["reason"]

    def test_a_message_given_up_on_halfway_is_cancelled(self, chat, jordan):
        c = chat(jordan)
        c.say("I want to write the doctor a message")
        r = c.say("It's about my... oh forget it, I'll call. This is too much typing.")
        assert cancelled(r)

    def test_a_phone_call_instead_at_the_read_back_is_a_change_not_a_cancel(self, chat, jordan):
        c = chat(jordan)
        c.say("I need an appointment about trouble sleeping")
        c.answer_until("confirm", {"preferred_time": "lunchtime? 12ish", "visit_type": "virtual"})
        r = c.say("wait, can it be a phone call instead? my work laptop blocks video. yes phone")
        assert not cancelled(r) and r.state.fields["visit_type"] == "phone"


class TestRound18Answers:
    """Answers from round 17's and round 18's blind conversation scripts (cv13, cv14), each once misread."""

    def test_an_answer_thought_aloud_files_what_it_settles_on(self, chat, jordan):
        """'does it have to be in person?? ok whatever in person' was filed 'no preference'."""
        c = chat(jordan)
        c.say("need appt")
        c.say("physical for ROTC? idk if that counts. yeah its a physical")
        c.say("after 3 any day")
        assert c.state.awaiting == "visit_type"
        c.say("does it have to be in person?? ok whatever in person")
        assert c.state.fields["visit_type"] == "in_person"

    def test_a_message_not_about_a_visit_is_no_appointment(self, chat, jordan):
        """'not really about appointments or meds' had started an appointment; the message
        asked for instead carried the crisis."""
        c = chat(jordan)
        c.say("I have a question that's not really about appointments or meds")
        assert c.state.intent == "other"
        c.answer_until("message", {}, otherwise="I still want to write to my team")
        r = c.say("just tell the nurses thanks for me. I won't be around much longer anyway, I've made my plans")
        assert redirected(r, "crisis")

    def test_a_fever_told_while_waiting_on_a_urine_culture_is_for_today(self, chat, jordan):
        c = chat(jordan)
        c.say("any word on my urine culture")
        assert c.state.awaiting == "test_date"
        r = c.say("friday. still burning and now I've got a fever of 101 and chills, can I get antibiotics today")
        assert redirected(r, "same_day")

    def test_a_shift_told_with_whenever_is_kept_for_the_team(self, chat, jordan):
        c = chat(jordan)
        c.say("do yall do virtual appts? need to talk to someone about my sleep")
        assert c.state.awaiting == "preferred_time"
        c.say("whenever, I work nights")
        assert "nights" in c.state.fields["preferred_time"]

    def test_a_shift_in_the_opening_still_asks_when(self, chat, jordan):
        c = chat(jordan)
        c.say("I work nights and need an appointment about my knee")
        assert c.state.awaiting == "preferred_time"


class TestRound19Answers:
    """Answers from round 19's blind conversation scripts (cv15), each once misread."""

    @pytest.mark.parametrize("answer", ["Lucas - no sorry, I mean Sophie", "Lucas, oh sorry no, it's Sophie's",
                                        "Lucas - wait no, Sophie, she's the one starting daycare",
                                        "Lucas — ugh autocorrect — SOPHIE, the baby"])  # round 22 (cv18)
    def test_a_child_named_then_corrected_is_the_corrected_one(self, chat, maria, answer):
        c = chat(maria)
        c.say("need the shot record for one of the kids, for daycare")
        assert c.state.awaiting == "patient"
        c.say(answer)
        assert c.state.fields["patient"] == "Sophie"

    def test_two_children_without_a_correction_is_the_first(self, chat, maria):
        c = chat(maria)
        c.say("need the shot record for one of the kids, for daycare")
        c.say("Lucas for now, I'll do Sophie's separately")
        assert c.state.fields["patient"] == "Lucas"

    def test_an_errand_tried_is_not_what_was_tried_for_the_symptom(self, chat, jordan):
        c = chat(jordan)
        c.say("knee been hurting since the ruck march last week, wife and I both AD so trying to handle this thru the portal")
        assert "self_care" not in c.state.fields


class TestRound20Answers:
    """Openings and answers from round 20's blind conversation scripts (cv16), each once misread."""

    @pytest.mark.parametrize("opening,intent", [
        ("hey so i was gonna ask about my lab results but nvm those came thru. can i get an appt for my knee?",
         "appointment"),
        ("two things, most important is my urinalysis results from the 12th. the other thing I'll call about later",
         "results"),
    ])
    def test_an_opening_with_a_request_is_not_taken_back(self, chat, jordan, opening, intent):
        c = chat(jordan)
        r = c.say(opening)
        # taken up, or asked about with it as the guess ("Is this about an appointment?")
        assert not cancelled(r) and intent in (c.state.intent, c.state.guess)

    def test_an_opening_of_cancel_words_alone_still_closes(self, chat, jordan):
        r = chat(jordan).say("never mind")
        assert cancelled(r)

    def test_cancel_the_whole_thing_at_the_read_back(self, chat, maria):
        c = chat(maria)
        c.say("Lucas needs his immunization record for sports, secure message is fine")
        assert c.state.awaiting == "confirm"
        r = c.say("no... actually just cancel the whole thing, coach said they have it")
        assert cancelled(r)

    def test_a_daycare_on_post_is_no_mail_order(self, chat, maria):
        c = chat(maria)
        c.say("Sophie needs her immunization record for the CDC daycare on post")
        assert c.state.fields.get("purpose") == "childcare" and "delivery" not in c.state.fields

    def test_a_severity_corrected_at_the_read_back(self, chat, jordan):
        c = chat(jordan)
        c.say("my ankle is sore after the ruck march, can walk on it fine")
        c.answer_until("confirm", {"onset": "3 days ago", "severity": "mild", "self_care": "ice and rest"})
        c.say("no, the severity should be moderate, it's worse than I said")
        assert c.state.fields["severity"] == "moderate"

    def test_a_request_turned_from_is_not_the_one_filed(self, chat, jordan):
        c = chat(jordan)
        c.say("started to book an appt for my back but honestly I just need more meloxicam, that fixes it")
        assert c.state.intent == "refill"

    def test_the_test_named_beats_the_word_for_tests(self, chat, jordan):
        """'my bloood work resluts, the cbc from my phisical' filed 'bloood work'."""
        c = chat(jordan)
        c.say("wen do i get my bloood work resluts, the cbc from my phisical")
        assert c.state.fields["test"].lower() == "cbc"

    def test_a_sick_fussy_baby_is_asked_what_is_wrong(self, chat, maria):
        """'she's sick, been fussy' names nothing the team can act on; the question that
        follows caught fast breathing and blue lips (cv16-065)."""
        c = chat(maria)
        r = c.say("my baby Sophie is sick, she's been fussy")
        assert r.state.awaiting == "symptom"
        r = c.say("she's breathing really fast and her lips look kinda blue")
        assert redirected(r, "emergency")

    def test_a_named_symptom_is_not_asked_again(self, chat, maria):
        r = chat(maria).say("Sophie has had a runny nose and a cough since Monday")
        assert "symptom" in r.state.fields and r.state.awaiting != "symptom"

    @pytest.mark.parametrize("opening", ["me siento mal, i'm feeling bad", "i dont feel good at all today, really bad"])
    def test_a_feeling_alone_is_asked_about_not_screened_by_the_word_model(self, chat, jordan, opening):
        """The word model once read 'me siento mal, i'm feeling bad' as a crisis and asked the
        safety question; the patient's chest pain came only when the bot asked what was wrong."""
        c = chat(jordan)
        r = c.say(opening)
        assert not r.effects and r.state.awaiting == "symptom"
        r = c.say("dolor de pecho bien fuerte, really bad chest pain and sweating, can't catch my breath")
        assert redirected(r, "emergency")


class TestRound21Answers:
    """Openings and answers from round 21's blind conversation scripts (cv17), each once misread."""

    def test_an_iud_instead_of_the_pill_is_a_visit_not_poison_control(self, chat, jordan):
        c = chat(jordan)
        r = c.say("can I make an appointment to talk about getting an IUD instead of the pill?")
        assert not r.effects and c.state.intent == "appointment"

    @pytest.mark.parametrize("answer,value", [
        ("phone or video, either works... let's do phone", "phone"),
        ("in person or phone, either's okay unless they need to see my foot... let's just say phone", "phone"),
    ])
    def test_an_answer_thought_aloud_settles_on_its_choice(self, chat, jordan, answer, value):
        c = chat(jordan)
        c.say("I need an appointment for my knee, tuesday morning works")
        assert c.state.awaiting == "visit_type"
        c.say(answer)
        assert c.state.fields["visit_type"] == value

    def test_a_question_back_then_a_choice_is_the_choice(self, chat, maria):
        c = chat(maria)
        c.say("We got PCS orders to Ramstein and I need Lucas's immunization record for the overseas screening.")
        c.say("Is mail faster or picking it up? We're in town until the 20th... I'll just pick it up at the front desk")
        assert c.state.fields["delivery"] == "pickup"

    def test_never_mind_then_the_answer_is_the_answer_not_a_cancel(self, chat, jordan):
        c = chat(jordan)
        c.say("refill my losartan")
        r = c.say("could you mail it? how long does mail order take... never mind, the base pharmacy, I'll grab it tomorrow")
        assert not cancelled(r) and c.state.fields["pharmacy"] == "the base pharmacy"

    @pytest.mark.parametrize("answer", ["never mind, I just looked and I can book it online myself. Don't put this in",
                                        "stop. I'll call back later when I know my schedule"])
    def test_never_mind_then_a_reason_still_cancels(self, chat, jordan, answer):
        c = chat(jordan)
        c.say("need an appointment for my ingrown toenail, it's been bugging me")
        c.say("Friday if you have anything")
        assert c.state.awaiting == "visit_type"
        assert cancelled(c.say(answer))

    def test_a_message_that_ends_by_taking_itself_back_is_not_sent(self, chat, jordan):
        c = chat(jordan)
        c.say("I have a question about my TRICARE coverage for diabetic shoes.")
        r = c.say("oh wait, I just found the answer on the TRICARE website. Never mind, nothing to send.")
        assert cancelled(r)

    def test_who_is_it_for_answered_with_a_visit_is_no_new_request(self, chat, maria):
        c = chat(maria)
        c.say("I just wanted to say thank you to Dr. Okonkwo and the nurses, they were so good with Lucas last week.")
        c.say("Please pass along a big thank you to Dr. Okonkwo and the nurses for taking such good care of Lucas.")
        assert c.state.awaiting == "patient"
        c.say("it's about Lucas's visit")
        assert c.state.intent == "other" and c.state.fields["patient"] == "Lucas"

    @pytest.mark.parametrize("opening", [
        "I was at the urgent care downtown over the weekend for my gout, and they told me to follow up with my PCM "
        "within a week. Foot's a lot better now. Can I get on the schedule?",
        "Can I schedule a follow-up on my cholesterol? Dr. Nguyen wanted to recheck in three months and it's been about that.",
    ])
    def test_a_time_told_of_the_past_or_by_a_clinician_is_not_the_wanted_time(self, chat, jordan, opening):
        c = chat(jordan)
        c.say(opening)
        assert "preferred_time" not in c.state.fields and c.state.awaiting == "preferred_time"

    def test_a_wish_told_in_the_past_tense_is_still_wanted(self, chat, jordan):
        c = chat(jordan)
        c.say("I was hoping to get in Tuesday morning for my knee")
        assert "tuesday" in c.state.fields["preferred_time"].lower()

    def test_a_message_asking_to_cancel_a_referral_is_passed_on(self, chat, jordan):
        """'please cancel it' about a referral is the message, not an appointment to cancel."""
        c = chat(jordan)
        c.say("I have a question about my TRICARE coverage")
        c.say("he won't need the referral anymore, please cancel it")
        assert c.state.intent == "other" and "referral" in c.state.fields["message"]


class TestRound22Answers:
    """Openings and answers from round 22's blind conversation scripts (cv18: many children)."""

    @pytest.mark.parametrize("opening", [
        "Can you renew my losartan? Lucas and Sophie are fine, this one is just mine.",
        "My lower back has been killing me since I helped move Lucas into his new room.",
        "Between dropping Lucas at school and Sophie at daycare I missed a call. Was it about my thyroid blood test?",
    ])
    def test_a_child_named_beside_the_writers_own_request_is_asked_about(self, chat, maria, opening):
        c = chat(maria)
        c.say(opening)
        assert "patient" not in c.state.fields and c.state.awaiting in ("patient", "intent")

    def test_a_child_named_as_the_one_it_is_for_is_taken(self, chat, maria):
        c = chat(maria)
        c.say("Lucas needs his inhaler refilled")
        assert c.state.fields["patient"] == "Lucas"

    def test_a_child_corrected_in_a_later_answer_changes_whom_it_is_for(self, chat, maria):
        c = chat(maria)
        c.say("Did the allergy blood test come back for Lucas?")
        assert c.state.fields["patient"] == "Lucas" and c.state.awaiting == "test_date"
        c.say("it was drawn two weeks ago Friday. and sorry, it was Sophie, not Lucas")
        assert c.state.fields["patient"] == "Sophie"
        assert "for Sophie" in c.text

    def test_a_name_and_an_age_answer_who_not_why(self, chat, maria):
        c = chat(maria)
        c.say("I need to make an appointment for my son")
        c.say("Lucas, the 5 year old")
        assert c.state.fields["patient"] == "Lucas" and c.state.awaiting == "reason"


class TestRound23Answers:
    """Openings and answers from round 23's blind conversation scripts (cv19: answers that
    give more than was asked)."""

    def test_an_answer_that_names_another_field_fills_it(self, chat, jordan):
        c = chat(jordan)
        c.say("Refill please.")
        c.say("losartan, for my blood pressure. to the base pharmacy as usual")
        assert c.state.fields["medication"] == "Losartan 50 mg tablet"
        assert "base" in c.state.fields["pharmacy"].lower() and c.state.awaiting == "confirm"

    def test_a_reason_answer_with_a_day_and_a_visit_type_fills_both(self, chat, jordan):
        c = chat(jordan)
        c.say("I'd like to make an appointment")
        c.say("tuesday morning, video, it's for my knee. it's been clicking since I started running again")
        assert c.state.fields["visit_type"] == "virtual"
        assert "tuesday" in c.state.fields["preferred_time"].lower()

    def test_words_in_passing_choose_nothing_else(self, chat, jordan):
        """'Friday if you have anything' answers when, not the visit type; '250s in the
        morning' tells when the sugar is high, not when to come."""
        c = chat(jordan)
        c.say("need an appointment for my ingrown toenail, it's been bugging me")
        c.say("Friday if you have anything")
        assert c.state.awaiting == "visit_type"
        c = chat(jordan)
        c.say("I'd like to make an appointment")
        c.say("sugars running high, 250s in the morning")
        assert c.state.awaiting == "preferred_time"

    @pytest.mark.parametrize("opening", [
        "need a follow up for my lower back. the PT guy said check back with my PCM after 6 weeks",
        "my son needs a sports physical, he's got soccer tryouts in three weeks",
        "I want to talk to the doc about maybe getting scoped for my heartburn. Not urgent, no chest pain",
        "Can I get an appt for my diabetes check? I already did the A1c draw at the lab on Monday",
        "I need an appointment for my profile renewal, it expires in 2 weeks",
    ])
    def test_a_time_that_is_not_when_to_come_is_not_taken(self, chat, jordan, opening):
        c = chat(jordan)
        c.say(opening)
        assert "preferred_time" not in c.state.fields

    def test_a_clock_time_after_a_number_is_still_a_time(self, chat, jordan):
        c = chat(jordan)
        c.say("can I come in after 6 tomorrow for my knee")
        assert "after 6" in c.state.fields["preferred_time"]

    def test_i_mean_corrects_the_choice(self, chat, maria):
        c = chat(maria)
        c.say("Lucas starts at the CDC on post next month and they need his shot record")
        c.say("can you just mail it to me? like through the portal messages I mean, not the post office")
        assert c.state.fields["delivery"] == "secure_message"

    def test_scratch_the_whole_thing_cancels_without_a_wound(self, chat, maria):
        c = chat(maria)
        c.say("need to book Lucas a follow-up for his ear infection")
        c.answer_until("confirm", {"patient": "Lucas", "preferred_time": "friday afternoon", "visit_type": "in person"})
        r = c.say("no, scratch the whole thing. his mom already booked one through the app this morning. Cancel it.")
        assert cancelled(r)


class TestRound24Answers:
    """Openings and answers from round 24's blind conversation scripts (cv20: in a hurry)."""

    def test_nah_cancel_at_the_read_back_cancels(self, chat, maria):
        c = chat(maria)
        c.say("can lucas get in for his well-child")
        c.answer_until("confirm", {"preferred_time": "next sat", "visit_type": "in person"})
        assert cancelled(c.say("nah cancel, just realized we're out of town that week"))

    def test_put_off_to_a_booked_visit_cancels_not_changes(self, chat, jordan):
        c = chat(jordan)
        c.say("I've had a mild cough hanging on since my cold.")
        c.answer_until("confirm", {"onset": "about 3 weeks", "self_care": "honey and tea"})
        r = c.say("Actually, please don't send this. I will mention it at my appointment on Thursday.")
        assert cancelled(r)

    def test_or_anything_in_an_opening_chooses_no_visit_type(self, chat, jordan):
        c = chat(jordan)
        c.say("follow-up on my depression meds pls, not in any danger or anything, just want to adjust it")
        assert c.state.fields.get("visit_type") != "no_preference"

    def test_a_childs_named_drug_is_not_matched_to_the_parents_list(self, chat):
        """'Arjun needs his Flovent inhaler refilled' was filed as his mother's Symbicort (cv21-072)."""
        from micare_bot.models import Dependent, PatientContext

        priya = PatientContext("Priya Raman", 38, ("Montelukast 10 mg tablet",
                                                   "Budesonide-formoterol (Symbicort) 160/4.5 mcg inhaler"),
                               (Dependent("Arjun", 6),))
        c = chat(priya)
        c.say("Arjun needs his Flovent inhaler refilled before school starts, he uses it every morning.")
        assert "flovent" in c.state.fields["medication"].lower()
        c = chat(priya)
        c.say("refill my Flovent inhaler please")
        assert "flovent" in c.state.fields["medication"].lower()


class TestRound28Names:
    """Names as parents type them: a pet form, a spelling by sound, a question still to come."""

    def test_a_pet_form_or_a_spelling_by_sound_names_the_child(self):
        from micare_bot.intents.extract import dependent_named
        from micare_bot.models import Dependent

        kids = [Dependent(name="Olivia", age=2), Dependent(name="Rohan", age=5)]
        assert dependent_named("Livvy has had a cough for a week. Rohan's ok so far", kids) == "Olivia"
        assert dependent_named("I'd like an appointment for Sophia", [Dependent(name="Sofia", age=3)]) == "Sofia"
        assert dependent_named("jaxon's babysitting co-op wants his shots", [Dependent(name="Jackson", age=3)]) == "Jackson"
        # a capitalised word is no pet form: "Will you call me" is not William
        assert dependent_named("Will you call me back", [Dependent(name="William", age=4)]) is None

    def test_a_question_still_to_come_asks_for_it(self, chat, jordan):
        """'can I ask a question about it' has not asked it yet: the symptom is asked."""
        c = chat(jordan)
        r = c.say("my son rolled off our bed this morning, can I ask a question about it")
        if r.state.awaiting == "intent":
            r = c.say("a symptom question")
        assert r.state.awaiting == "symptom"


class TestRound29Answers:
    """Answers that take back a first thought or sound like leaving."""

    def test_a_time_taken_back_is_replaced_by_the_one_assigned(self, chat, jordan):
        """'Thursday at 0900. Actually scratch that, ..., make it Friday afternoon' files Friday."""
        c = chat(jordan)
        r = c.say("I need an appointment for my diabetes follow-up")
        assert r.state.awaiting == "preferred_time"
        r = c.say("Thursday at 0900. Actually scratch that, we switched to nights this week, make it Friday afternoon")
        assert r.state.status != "cancelled"
        assert "friday" in r.state.fields["preferred_time"].lower()

    def test_coming_to_grab_the_record_is_a_pickup(self, chat, jordan):
        """At the delivery question, "I'll just come grab it" picks it up; it does not cancel."""
        c = chat(jordan)
        r = c.say("I need a copy of my shot record for my new job")
        while r.state.awaiting not in ("delivery", "confirm", None) and r.state.status == "collecting":
            r = c.say("for work" if r.state.awaiting == "purpose" else "me")
        assert r.state.awaiting == "delivery"
        r = c.say("I'll just come grab it, I'm at the clinic Thursday anyway")
        assert r.state.status != "cancelled" and r.state.fields["delivery"] == "pickup"
