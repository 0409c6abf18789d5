"""The flow engine: one patient turn in, the next state, replies and effects out.

Pure and synchronous. Order of business on every turn: triage (pre-empts
everything), then conversation control (cancel, start over), then the step
the conversation is at: the opening, a clarifying question, a field, the
read-back. Bad answers are a normal outcome: the field is asked again with a
reason, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Sequence

from ..intents import CLARIFY_BELOW, LEARNED_RULE, Reading, Understanding
from ..intents import extract
from ..intents.classifier import classify
from ..intents.lexicon import Message
from ..intents.phrases import Lattice
from ..text import fold
from ..models import (
    CALL_NOW_LEVELS,
    INTENTS,
    Cancelled,
    ClinicContext,
    ConversationState,
    Effect,
    FileRequest,
    PatientContext,
    Redirect,
    Reply,
    TriageResult,
    TurnResult,
)
from .prompts import Prompts
from .spec import FieldSpec, Flows, FlowSpec

OPENING = "@opening"  # an `unknown:` value meaning "file the opening words"
SAFETY = "safety"  # what the state awaits while the patient answers a safety question
MAX_TEXT = 2000  # characters of one patient message the core looks at
MAIN_INTENTS = tuple(i for i in INTENTS if i != "other")
SWITCH_CONFIDENCE = 0.6
MAX_RETRACT_STEMS = 4  # "never mind, nothing to send"; "never mind about the referral" is a message
MAX_ANSWER_AFTER_CANCEL = 4  # "... never mind, the base pharmacy": the answer, said short
SWITCH_SCORE = 4.0
# a cancel outweighs a switch unless the new request is a strong cue, not a topic word:
# "actually don't worry about it, I'll pull it off MilConnect myself" is no pulled muscle
SWITCH_OVER_CANCEL_SCORE = 5.0
MAX_REQUEST_STEMS = 12  # longer answers to the message question are the message
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
CONFIRM_REPLIES = ("Confirm", "Change", "Cancel")
_CANCEL_FILLER = frozenset(
    "this that it the request please convers chat everyth all my messag just ok okay actual i want to no nah nope "
    "thank thanks you can we let us do everyth whole and pleas".split()
)
_LEAD_FILLER = frozenset("no nope nah ugh um umm uh oh hmm ok okay actual wait sorri sorry well so".split())
# a message given up on halfway: "It's about my... oh forget it, I'll call. This is too much typing"
_GIVE_UP_TO_CALL_RE = re.compile(r"\b(?:forget it|never ?mind|nvm)\b[ ,.]*(?:i ?ll|i will|i m going to|im going to|im gonna)"
                                 r" (?:just )?(?:call|phone|come in|stop by|ask)")
_CANCEL_VISIT_RE = re.compile(r"\b(cancel|drop|won ?t need|will not need|do not need)\b")
# the first word after "expires" and its links ("expires on", "lapses at the"): a time
# there is a deadline; so is one after another event ("she turns 1 next week", "before I
# report next month", "we PCS in June"), not when the patient wants to come in
_DEADLINE_RE = re.compile(r"\b(?:expir\w*|runs? out|ends|ending|lapses?|lapsing|turns? \d+|turning \d+|birthday(?: is)?"
                          r"|report|reporting|deploy|deploying|ship out|shipping out|pcs|pcsing|is due|are due"
                          # another event's date: "he's got soccer tryouts in three weeks"
                          r"|tryouts?|games?|season|camp|trip|flight|wedding|surgery|graduation|school starts|starts)"
                          r"\s+(?:(?:on|in|by|at|the)\s+){0,2}(\S+)")
# a visit being moved, or one the patient cannot make: its date is not the wanted time
_MOVE_VISIT_RE = re.compile(r"\b(reschedul\w*|move|moved|moving|push\w*|chang\w*|switch\w*|bump\w*"
                            r"|(?:can ?not|can ?t|cannot|won ?t|will not|not able to|unable to) make)\b")
# a clause that tells what happened or what a clinician asked for: its time is no wanted one
# ("I was at the urgent care over the weekend", "Dr. Nguyen wanted to recheck in three months")
_TOLD_OR_PAST_RE = re.compile(r"\b(?:i was (?:at|in|seen)|we were (?:at|in|seen)|i went|we went|was seen|were seen"
                              r"|(?:told|asked|wants|wanted|said for) (?:me|us|him|her|them) to|told (?:me|us)"
                              r"|(?:wanted|wants|said|asked) to (?:recheck|re check|see|follow|check)|said to come back"
                              r"|said (?:to )?(?:check|come|follow) (?:back|up|in)"
                              r"|(?:already|i) (?:did|had|got|done) (?:the|my|his|her|a|an) (?:\w+ )?(?:labs?|blood|draw|test|x ?ray|scan|a1c|bloodwork))\b")
# time words in an opening that say how urgent or how long ago, not when to come: "Not
# urgent, no chest pain", "a hard time focusing at school this year"
_NOT_A_WANTED_TIME = frozenset({"not urgent", "no rush", "this year", "last year", "next year", "this month"})
_TIME_LINKS = frozenset({"on", "in", "by", "at", "the"})
# enum values an answer to another question names in passing, never a choice made there
_NOT_A_CHOICE = frozenset({"no_preference", "other", "not_sure"})
_URGENCY = {"routine": 0, "same_day": 1, "emergency": 2, "crisis": 2, "poison": 2}


def _children_named(text: str, patient: PatientContext) -> str:
    """`text` with each dependent's first name (and "Eli's") replaced by "my child"."""
    for dep in patient.dependents:
        name = re.escape(dep.name.split()[0])
        text = re.sub(rf"\b{name}(?='s\b|s\b)", "my child", text, flags=re.IGNORECASE)
        text = re.sub(rf"\b{name}\b", "my child", text, flags=re.IGNORECASE)
    return text


_YES_FIRST = frozenset({"yes", "yeah", "yep", "yup", "ya", "yea", "y"})
# words of a correction at the confirm step: "it's actually the left one", "oops, I meant..."
_CONTRAST_STEMS = frozenset({"actual", "instead", "wrong", "mistak", "oop", "oops", "typo", "meant"})
_CANCEL_WORDS = _CANCEL_FILLER | {"cancel", "stop", "quit", "exit", "abort", "never", "mind", "forget", "drop", "leav", "scratch",
                                  "no", "not", "anymor", "need", "nevermind"}


_GENERIC_WORDS = frozenset(
    "i a an the my me have has got get need question questions quick health medical regarding about ask "
    "help advice concern concerns something thing some is it to for with of and or on can could would you "
    "please hi hello hey want like just symptom symptoms issue issues problem problems".split()
)




_GENERIC_MED_WORDS = frozenset(
    "my the a an of it them one ones usual regular normal same daily med meds medic medicin medication medications "
    "pill pills tablet tablets prescript prescription prescriptions refill refills script scripts rx please stuff".split()
)


def _generic_medication(message: Message) -> bool:
    """Words that name no particular medication ("my meds", "the usual prescription")."""
    words = message.analysed.all_words
    return bool(words) and all(w in _GENERIC_MED_WORDS for w in words)


def _mail_order(words: str) -> str:
    """Mail order, keeping the patient's words ("Express Scripts" -> "Mail order: Express Scripts")."""
    return words if "mail" in words.lower() else f"Mail order: {words}"


# "can I book Ruby a sick visit?": a visit for being sick says what kind of visit, not what is wrong
_SICK_VISIT_WORDS = frozenset(
    "book booking schedule make set up visit visits appointment appt appointments sick ill unwell seen see "
    "doctor dr pcm come in get today tomorrow asap soon possible sometime slot open opening spot same day "
    "walk acute sickcall call need needs needed was wondering wants "
    "son daughter kid kids child children baby toddler boy girl husband wife spouse him her them us we our his their "
    "one little year years yr yrs yo old month months".split()  # "Angel, the 9 year old" says who, not why
)

# "I've been feeling off", "not feeling well lately": something is wrong, but not what, so
# the bot still asks what the visit is for (an answer that may itself be an emergency)
_VAGUE_FEELING_WORDS = frozenset(
    "ve been am im i m feel feeling feels felt off well good great right bad weird funny strange not myself "
    "quite lately recently really so very bit little kind kinda sort of under the weather crappy crummy lousy "
    "awful terrible rough yucky blah meh sick sickly all over place since while few days week weeks both "
    "he she s is has been fussy fussier cranky clingy crying cries whiny out sorts".split()
)


def _says_what_is_wrong(message: Message, patient: PatientContext) -> bool:
    return bool(_what_is_wrong_words(message, patient))


def _what_is_wrong_words(message: Message, patient: PatientContext) -> list[str]:
    names = {fold(d.name.split()[0]) for d in patient.dependents if d.name}
    return [w for w in message.analysed.all_words if w not in _GENERIC_WORDS and w not in _SICK_VISIT_WORDS
            and w not in _VAGUE_FEELING_WORDS and w not in names and not w.isdigit()]


def _clause_texts(message: Message) -> tuple[str, ...]:
    """Each clause as typed, one per lattice; when a clause lost all its words, the corrected
    words stand in."""
    texts = message.analysed.clause_texts
    if len(texts) != len(message.lattices):
        texts = tuple(" ".join(words) for words in message.words)
    return texts


def _names_a_topic_only(message: Message, patient: PatientContext) -> bool:
    """"I have a question about my pregnancy", "headache question": the subject of a question,
    not what is happening, so the symptom is still asked (the answer may be the emergency:
    "I'm bleeding a lot, soaking a pad every hour")."""
    return (any(w in _QUESTION_WORDS for w in message.analysed.all_words)
            and len(_what_is_wrong_words(message, patient)) <= _TOPIC_WORDS_AT_MOST)


_QUESTION_WORDS = frozenset({"question", "questions", "concern", "concerns", "ask"})
_TOPIC_WORDS_AT_MOST = 2


@dataclass
class _Turn:
    """The working set of one turn."""

    state: ConversationState
    patient: PatientContext
    clinic: ClinicContext
    now: datetime
    reading: Reading
    text: str
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    # the part of the answer after a "never mind" that took back a thought, not the request
    answer: Message | None = None

    @property
    def message(self) -> Message:
        return self.reading.message

    def result(self) -> TurnResult:
        return TurnResult(self.state, tuple(self.replies), tuple(self.effects))


class Engine:
    """Runs the declarative flows against patient turns."""

    def __init__(self, understanding: Understanding, flows: Flows, prompts: Prompts) -> None:
        self.u = understanding
        self.lexicon = understanding.lexicon
        self.flows = flows
        self.prompts = prompts

    # -- entry points ---------------------------------------------------------

    def greeting(self, patient: PatientContext, clinic: ClinicContext, *, dependent: str | None = None) -> TurnResult:
        state = ConversationState()
        if dependent:
            state.fields["patient"] = dependent
        text = self.prompts.render("greeting", patient=patient, clinic=clinic)
        return TurnResult(state, (Reply(text, self._menu_replies()),))

    def handle(self, state: ConversationState | None, patient: PatientContext, text: str, *,
               clinic: ClinicContext, now: datetime) -> TurnResult:
        state = state.copy() if state is not None else ConversationState()
        if state.closed:
            return TurnResult(state, (Reply(self.prompts.render("closed")),))
        text = " ".join((text or "").split())[:MAX_TEXT]
        if not text:
            return TurnResult(state, (self._question(state, patient, clinic),))
        state.turns += 1
        state.words.append(text)
        earlier = ". ".join(state.words[:-1])
        reading = self._read(state, patient, text, earlier)
        turn = _Turn(state, patient, clinic, now, reading, text)
        if state.awaiting == SAFETY and not reading.triage.urgent:
            self._answer_safety(turn)
        elif reading.triage.rule == LEARNED_RULE and state.awaiting != SAFETY:
            if self._takes_back(turn):
                self._cancel(turn)
            else:
                self._model_raised(turn)
        elif reading.triage.urgent:
            self._redirect(turn)
        else:
            self._dispatch(turn)
        return turn.result()

    def _read(self, st: ConversationState, patient: PatientContext, text: str, earlier: str) -> Reading:
        """The message read as the core reads it, and once more with the account's children
        named as "my child": the red-flag rules know "found my son with the bottle open", not
        "found Eli with the bottle open". The more urgent triage of the two stands."""
        second = self._free_text(st)
        reading = self.u.read(text, earlier=earlier, second_opinion=second)
        if not patient.dependents or reading.triage.level in CALL_NOW_LEVELS:
            return reading
        as_children = _children_named(text, patient)
        if as_children == text:
            return reading
        other = self.u.read(as_children, earlier=_children_named(earlier, patient), second_opinion=second)
        if _URGENCY[other.triage.level] > _URGENCY[reading.triage.level]:
            return replace(reading, triage=other.triage)
        return reading

    # -- the word model's alarms: asked about, not acted on blind --------------------------

    def _takes_back(self, t: _Turn) -> bool:
        """A request taken back mid-flow ("never mind, I'll just call TRICARE myself") is
        not asked a safety question on the word model's say alone ("myself" weighs towards
        crisis); the red-flag rules still read it before anything else."""
        return t.state.intent is not None and self._wants_cancel(t)

    def _model_raised(self, t: _Turn) -> None:
        """Only the word model found this urgent (no red-flag rule did). It is right about
        real emergencies the rules have no words for, and wrong about some plain messages
        ("waking up at 3am every night"), so the patient is asked one safety question;
        anything but a clear no sends them on, as a rule's alarm would."""
        st = t.state
        level = t.reading.triage.level
        if st.safety.get("cleared") == level:
            self._go_on(t, t.text)  # asked about this once already and told no
            return
        st.safety = {"level": level, "text": t.text, "resume": st.awaiting or ""}
        st.awaiting = SAFETY
        t.replies.append(Reply(self.prompts.render(f"safety_{level}", clinic=t.clinic),
                               self.flows.safety_replies))

    def _answer_safety(self, t: _Turn) -> None:
        st = t.state
        asked = st.safety
        denied = self._said(t, "deny") and not (self._said(t, "yes") or self._said(t, "unsure")
                                                 or self._knows_not(t.message))
        unsure = self._said(t, "unsure") or self._knows_not(t.message)
        stems = t.message.analysed.all_stems
        said_yes = bool(stems) and stems[0] in _YES_FIRST  # "sure" inside "not sure" is no yes
        if asked["level"] == "same_day" and unsure and not said_yes:
            # not sure whether it needs care today: no life is at stake this minute, so they
            # get the nurse line now and the request goes on, marked for staff to call first
            st.safety = {"cleared": asked["level"], "unsure": "yes"}
            st.awaiting = asked["resume"] or None
            t.replies.append(Reply(self.prompts.render("safety_unsure_same_day", clinic=t.clinic)))
            self._go_on(t, asked["text"])
            return
        if not denied:  # yes, not sure, I don't know, or anything else: recall first
            if st.intent is None:  # what the held message asked for, not what "I don't know" does
                held = self.u.read(asked["text"], second_opinion=False).intent.intent
                st.guess = "symptom" if held == "other" else held
            t.reading = replace(t.reading, triage=TriageResult(asked["level"], LEARNED_RULE))
            st.awaiting = asked["resume"] or None
            self._redirect(t)
            return
        st.safety = {"cleared": asked["level"]}
        st.awaiting = asked["resume"] or None
        t.replies.append(Reply(self.prompts.render("safety_cleared", clinic=t.clinic, level=asked["level"])))
        self._go_on(t, asked["text"])

    def _go_on(self, t: _Turn, text: str) -> None:
        """Carry on with `text` as the rules read it (a rule may still find it same-day)."""
        earlier = ". ".join(w for w in t.state.words[:-1] if w != text)
        reading = self.u.read(text, earlier=earlier, second_opinion=False)
        t.reading, t.text = reading, text
        if reading.triage.urgent:
            self._redirect(t)
        else:
            self._dispatch(t)

    # -- dispatch -----------------------------------------------------------------

    def _dispatch(self, t: _Turn) -> None:
        st = t.state
        if self._said(t, "restart"):
            self._restart(t)
            return
        if self._wants_cancel(t):
            self._cancel(t)
            return
        if st.intent is None or st.awaiting == "intent":
            self._opening(t)
            return
        if st.status == "confirming":
            self._confirm(t)
            return
        if self._maybe_switch(t):
            return
        if st.awaiting == "patient":
            self._answer_patient(t)
        elif st.awaiting == "change":
            self._answer_change(t)
        elif st.awaiting:
            self._corrected_patient(t)
            self._answer_field(t, self._flow(st).field(st.awaiting))
        self._advance(t)

    def _corrected_patient(self, t: _Turn) -> None:
        """"it was drawn two weeks ago Friday. and sorry, it was Liam, not Noah": the child
        named in place of the one ruled out is whom the request is for."""
        st = t.state
        current = st.fields.get("patient")
        if not current or current == "self" or not t.patient.dependents:
            return
        named = extract.dependent_named(t.text, t.patient.dependents)
        if named and named != current and extract.ruled_out_name(t.text, current):
            st.fields["patient"] = named
            t.replies.append(Reply(self.prompts.render("patient_changed", child=named)))

    # -- control words ------------------------------------------------------------

    def _said(self, t: _Turn, word: str, message: Message | None = None) -> bool:
        msg = message or t.message
        return any(self._said_in(word, lattice) for lattice in msg.lattices)

    def _said_in(self, word: str, lattice: Lattice) -> bool:
        return any(True for _ in self.flows.control[word].find(lattice))

    def _cancel_clause(self, stems: Sequence[str], lattice: Lattice) -> bool:
        """A clause of cancel words alone that holds the cancel itself ("never mind, cancel that")."""
        return bool(stems) and set(stems) <= _CANCEL_WORDS and self._said_in("cancel", lattice)

    def _wants_cancel(self, t: _Turn) -> bool:
        stems = t.message.analysed.stems
        if t.state.awaiting == "delivery" and "cancel" not in t.message.analysed.all_stems and \
                extract.enum_value(self.lexicon, "delivery", t.message) == "pickup":
            return False  # "I'll just come grab it, I'm at the clinic Thursday anyway" picks it up
        # a clause of cancel words alone ("... never mind, cancel that", "oh wait, wrong
        # account. cancel") cancels mid-flow wherever it stands; in an opening the whole
        # message must be cancel words: "cancel my appointment" is a request
        if t.state.intent is not None:
            # the clause of cancel words must hold the cancel itself: "I dropped it off at
            # the front desk. Thanks" has a clause of filler, but "drop it" is in another
            clauses = list(zip(stems, t.message.lattices))
            if t.state.awaiting == "message":
                # a message for the care team may ask them to cancel something ("he won't
                # need the referral anymore, please cancel it"): only a message that opens
                # with the cancel ("never mind, I'll ask her Thursday") takes it back
                # past a leading "no," or "ugh," ("no, forget it, I'll call billing")
                lead = next((i for i, (c, _) in enumerate(clauses) if not set(c) <= _LEAD_FILLER), 0)
                first, lattice = clauses[lead] if clauses else ((), ())
                return (self._said_in("strong_cancel", lattice) or self._cancel_clause(first, lattice)
                        or bool(_GIVE_UP_TO_CALL_RE.search(t.message.analysed.folded))
                        or self._retracted_at_end(clauses))
            cancels = [i for i, (c, lat) in enumerate(clauses) if self._cancel_clause(c, lat)]
            only_cancel = bool(cancels)
            if only_cancel:
                t.answer = self._answer_after_cancel(t, clauses, cancels[-1])
                if t.answer is not None:
                    return False
        else:
            only_cancel = bool(set(s for c in stems for s in c) <= _CANCEL_WORDS and any(s for c in stems for s in c))
        if self._said(t, "strong_cancel"):
            if only_cancel:
                return True
            c = t.reading.intent
            if t.state.intent is None:
                # an opening has nothing to take back: "i was gonna ask about my labs but nvm
                # those came thru. can i get an appt for my knee?", "the other thing I'll call
                # about later". The lexicon's own scores say whether it asks for something (a
                # blend with the word model is on another scale)
                lexical = classify(t.message, self.lexicon)
                return not (lexical.intent in MAIN_INTENTS
                            and lexical.scores.get(lexical.intent, 0) >= SWITCH_OVER_CANCEL_SCORE)
            if self._said(t, "defer"):
                return True  # "don't send this, I will mention it at my appointment on Thursday"
            switching = (c.intent in MAIN_INTENTS and c.intent != t.state.intent
                         and c.scores.get(c.intent, 0) >= SWITCH_OVER_CANCEL_SCORE and self._said(t, "switch"))
            return not switching
        return self._said(t, "cancel") and only_cancel

    def _retracted_at_end(self, clauses: Sequence[tuple[Sequence[str], Lattice]]) -> bool:
        """A message that ends by taking itself back: "... Never mind, nothing to send"."""
        if not clauses:
            return False
        stems, lattice = clauses[-1]
        return len(stems) <= MAX_RETRACT_STEMS and self._said_in("retract", lattice)

    def _answer_after_cancel(self, t: _Turn, clauses: Sequence[tuple[Sequence[str], Lattice]],
                             last: int) -> Message | None:
        """"could you mail it? how long does mail order take... never mind, the base pharmacy":
        the never mind (the clause `last`) takes back the thought, and the answer that follows
        it is the answer."""
        st = t.state
        flow = self.flows.flows.get(st.intent or "other")
        if flow is None or st.awaiting not in flow.field_names:
            return None
        spec = flow.field(st.awaiting)
        if spec.kind not in ("enum", "pharmacy", "medication", "time"):
            return None  # a free-text answer after "never mind" may be the reason for it
        if last + 1 >= len(clauses):
            return None
        texts = _clause_texts(t.message)
        # "Thursday at 0900. Actually scratch that, we switched to nights this week, make it
        # Friday afternoon": the clause that assigns the new value, else the one right after
        assigning = [texts[i] for i in range(last + 1, len(clauses)) if self._assigns(clauses[i][1])]
        if not assigning and len(clauses[last + 1][0]) > MAX_ANSWER_AFTER_CANCEL:
            return None  # "never mind, I just looked and I can book it online myself" is no answer
        rest = self.u.message(assigning[-1] if assigning else texts[last + 1])
        if self._said(t, "strong_cancel", self.u.message(", ".join(texts[last + 1:]))):
            return None  # "never mind, the base pharmacy... no, I'll just call"
        # read as an opening reads it: a value named, not any words at all
        return rest if self._extract(spec, t, rest, answering=False) is not None else None

    def _restart(self, t: _Turn) -> None:
        st = t.state
        keep_patient = {}
        # a safety question answered no stays answered: the same patient, the same chat
        t.state = ConversationState(turns=st.turns, words=st.words, fields=keep_patient, safety=st.safety)
        t.replies.append(Reply(self.prompts.render("restart") + " " + self.prompts.render("menu", kind=""),
                               self._menu_replies()))

    def _cancel(self, t: _Turn) -> None:
        st = t.state
        st.status = "cancelled"
        st.awaiting = None
        t.effects.append(Cancelled())
        t.replies.append(Reply(self.prompts.render("cancelled")))

    def _redirect(self, t: _Turn) -> None:
        st = t.state
        level = t.reading.triage.level
        st.status = "redirected"
        st.triage = level
        st.awaiting = None
        if st.intent is None:
            st.intent = st.guess or t.reading.intent.intent
        t.effects.append(Redirect(level, t.reading.triage.rule))
        t.replies.append(Reply(self.prompts.render(f"redirect_{level}", clinic=t.clinic)))

    # -- the opening and clarifying the intent -----------------------------------------

    def _opening(self, t: _Turn) -> None:
        st = t.state
        if st.awaiting == "intent":
            self._answer_intent(t)
            return
        tapped = self._tapped_label(t)
        if tapped is not None:  # a menu button: start that flow, the label itself says nothing more
            st.intent = tapped
            self._advance(t)
            return
        c = t.reading.intent
        if c.intent == "other":
            self._start_other(t)
            return
        if c.confidence < CLARIFY_BELOW:
            st.awaiting = "intent"
            st.guess = c.intent
            st.pending_text = t.text
            ranked = [i for i in c.scores if i in MAIN_INTENTS]
            t.replies.append(Reply(
                self.prompts.render("clarify", guess_label=self.flows.labels[c.intent]),
                self._menu_replies(first=ranked),
            ))
            return
        self._start(t, c.intent, t.message)

    def _answer_intent(self, t: _Turn) -> None:
        st = t.state
        chosen = self._menu_choice(t)
        c = t.reading.intent
        if chosen is None and c.intent in MAIN_INTENTS and c.confidence >= CLARIFY_BELOW:
            chosen = c.intent
        says_more = chosen is not None  # a menu word or a fuller request: its words may fill fields
        if chosen is None and st.guess and (self._said(t, "yes") and not self._said(t, "no")):
            chosen = st.guess
        if chosen is None and st.guess and (self._knows_not(t.message)
                                            or st.attempts.get("intent", 0) + 1 >= 2):
            chosen = st.guess
            t.replies.append(Reply(self.prompts.render("guessed", intent_label=self.flows.labels[chosen])))
        if chosen is None:
            st.attempts["intent"] = st.attempts.get("intent", 0) + 1
            t.replies.append(Reply(self.prompts.render("clarify_retry"), self._menu_replies()))
            return
        # "yes" or "I don't know" to "is this about X?" adds nothing to what the opening said
        said = f"{st.pending_text or ''}. {t.text}" if says_more and not self._tapped_label(t) else st.pending_text or ""
        combined = self.u.message(said)
        st.pending_text = None
        st.guess = None
        st.attempts.pop("intent", None)
        if chosen == "other":
            st.intent = "other"
            st.awaiting = None
            self._advance(t)
            return
        self._start(t, chosen, combined)

    def _start_other(self, t: _Turn) -> None:
        st = t.state
        st.intent = "other"
        st.pending_text = t.text
        stems = set(t.message.analysed.all_stems)
        kind = "thanks" if stems & {"thank", "thanks", "appreci"} else (
            "greeting" if stems & {"hello", "hi", "hey", "howdi", "morn", "afternoon", "even"} else "")
        st.awaiting = "message"
        t.replies.append(Reply(
            self.prompts.render("menu", kind=kind, asking=True),  # the menu, ending in the message question
            self._menu_replies(),
        ))

    def _menu_choice(self, t: _Turn) -> str | None:
        found = [m.payload for lattice in t.message.lattices for m in self.flows.menu.find(lattice)]
        short = len(t.message.analysed.all_stems) <= 5
        return found[0] if found and short else None

    def _tapped_label(self, t: _Turn) -> str | None:
        """The intent whose menu button text the message is, exactly."""
        said = " ".join(t.message.analysed.folded.split()).strip(" .!?")
        for intent, label in self.flows.labels.items():
            if said == label.lower():
                return intent
        return None

    def _menu_replies(self, first: list[str] | None = None) -> tuple[str, ...]:
        order = list(dict.fromkeys([*(first or []), *MAIN_INTENTS, "other"]))
        return tuple(self.flows.labels[i] for i in order)

    # -- starting and switching flows --------------------------------------------------

    def _free_text(self, st: ConversationState) -> bool:
        """Whether the patient is describing things in their own words (an opening, a
        reason, a symptom) rather than answering a pointed question ("myself", "3 days
        ago", "I'll pick it up"): the learned triage model only reads the former."""
        if st.awaiting in (None, "intent"):
            return True
        flow = self.flows.flows.get(st.intent or "other")
        if flow is None or st.awaiting not in flow.field_names:
            return False  # confirm, change, patient
        return flow.field(st.awaiting).second_opinion

    def _flow(self, st: ConversationState) -> FlowSpec:
        return self.flows.flows[st.intent or "other"]

    def _start(self, t: _Turn, intent: str, message: Message) -> None:
        st = t.state
        st.intent = intent
        st.status = "collecting"
        st.awaiting = None
        self._prefill(t, message)
        self._advance(t)

    def _maybe_switch(self, t: _Turn) -> bool:
        st = t.state
        c = t.reading.intent
        tapped = self._tapped_label(t)
        target: str | None = None
        if tapped in MAIN_INTENTS and tapped != st.intent:
            target = tapped
        elif st.awaiting == "reason" and c.intent == "symptom":
            pass  # "what is the visit for?" is answered with what is wrong, however it is worded
        elif st.awaiting == "patient" and extract.patient_value(self.lexicon, t.message, t.patient.dependents,
                                                                answering=True):
            pass  # "who is this for?" answered "it's about Liam's visit": who, not a new request
        elif c.intent in MAIN_INTENTS and c.intent != st.intent:
            strong = c.confidence >= SWITCH_CONFIDENCE and c.scores.get(c.intent, 0) >= SWITCH_SCORE
            if strong and (self._asks_instead(t, c.intent) or self._said(t, "switch")):
                target = c.intent
        if target is None:
            return False
        patient = st.fields.get("patient")
        st.fields = {"patient": patient} if patient else {}
        st.parsed = {}
        st.attempts = {}
        st.intent = target
        st.status = "collecting"
        st.awaiting = None
        t.replies.append(Reply(self.prompts.render("switched", intent_label=self.flows.labels[target])))
        self._prefill(t, t.message)
        self._advance(t)
        return True

    def _asks_instead(self, t: _Turn, intent: str) -> bool:
        """Whether an answer to "what would you like to tell your care team?" is a new
        request rather than the message itself: a short answer ("I need a refill of my
        lisinopril") or one whose first sentence asks for it ("I need to make an
        appointment for Ellie, she's due for her checkup"). "My address changed. Please
        update my file." is what they want passed on, whatever it mentions."""
        if t.state.intent != "other":
            return False
        if len(t.message.analysed.all_stems) <= MAX_REQUEST_STEMS:
            return True
        first = _SENTENCE_END_RE.split(t.message.text.strip(), maxsplit=1)[0]
        c = self.u.classify(self.u.message(first))
        return c.intent == intent and c.confidence >= SWITCH_CONFIDENCE and c.scores.get(intent, 0) >= SWITCH_SCORE

    # -- filling fields -----------------------------------------------------------

    def _prefill(self, t: _Turn, message: Message) -> None:
        st = t.state
        deps = t.patient.dependents
        if deps and "patient" not in st.fields:
            who = extract.patient_value(self.lexicon, message, deps, answering=False)
            if who and not extract.has_cue(self.lexicon, "own_request", message):
                st.fields["patient"] = who
        for spec in self._flow(st).fields:
            if spec.name in st.fields or spec.from_opening == "never":
                continue
            value = self._from_opening(spec, t, message)
            if value is not None:
                self._set(st, spec.name, *value)

    def _from_opening(self, spec: FieldSpec, t: _Turn, message: Message) -> tuple[str, str | None] | None:
        mode = spec.from_opening
        if mode == "reason":
            if self._has(self.flows.reason_words, message) or (
                    self._intent_score(message, "symptom") > 0 and self._says_what_is_wrong(message, t.patient)):
                return extract.clean_answer(message.text)[:300], None
            return None
        if mode == "symptom":
            # "my baby is sick, she's been fussy": something is wrong, not what, so the bot asks
            # what the symptoms are (an answer that may itself be the emergency)
            if (self._intent_score(message, "symptom") > 0 and self._says_what_is_wrong(message, t.patient)
                    and not _names_a_topic_only(message, t.patient)
                    and not self._has(self.flows.question_to_come, message)):
                return extract.clean_answer(message.text)[:300], None
            return None
        if mode == "self_care":
            for c, lattice in enumerate(message.lattices):
                if (any(True for _ in self.flows.self_care_words.find(lattice))
                        and not any(True for _ in self.flows.self_care_asked.find(lattice))):
                    return " ".join(message.words[c]), None
            return None
        if mode == "severity":
            value = extract.enum_value(self.lexicon, spec.name, message)
            stems = set(message.analysed.all_stems)
            strong = {"mild", "moder", "sever", "slight", "excruci", "unbear", "terribl"}
            if value and (stems & strong or any(s.isdigit() for s in stems) and "10" in stems):
                return value, None
            return None
        if spec.kind == "time" and spec.direction == "future":
            return self._new_time(spec, t, message)
        if spec.kind == "test":
            found = self._extract(spec, t, message, answering=False)
            if found and extract.generic_test(found[0].split()):
                return None  # "did my labs come back?": which test is still worth one question
            return found
        if spec.kind == "enum":
            value = extract.enum_value(self.lexicon, spec.name, message, opening=True)
            return (value, None) if value else None
        return self._extract(spec, t, message, answering=False)

    @staticmethod
    def _medications_for(st: ConversationState, patient: PatientContext) -> tuple[str, ...]:
        """The list a named drug is matched against and offered from: the account holder's,
        unless the request is for a child (whose drugs are not on it: "Arjun needs his
        Flovent" is no refill of his mother's Symbicort). Unmatched, the drug is filed as typed."""
        if patient.dependents and st.fields.get("patient") not in (None, "self"):
            return ()
        return tuple(patient.medications)

    def _medication_list(self, t: _Turn) -> tuple[str, ...]:
        return self._medications_for(t.state, t.patient)

    def _says_what_is_wrong(self, message: Message, patient: PatientContext) -> bool:
        return _says_what_is_wrong(message, patient) and not self.u.only_vague(message)

    def _new_time(self, spec: FieldSpec, t: _Turn, message: Message) -> tuple[str, str | None] | None:
        """A wanted time from an opening; a date of the visit being moved or cancelled is not one."""
        folded = message.analysed.folded
        if _CANCEL_VISIT_RE.search(folded):
            return None
        moving = _MOVE_VISIT_RE.search(folded)
        if moving:
            tail = re.split(r"\b(?:to|for|until|till|into|instead)\b", folded[moving.end():], maxsplit=1)
            if len(tail) < 2:
                return None
            message = self.u.message(tail[1])
        texts = message.analysed.clause_texts
        told = [i for i, text in enumerate(texts) if _TOLD_OR_PAST_RE.search(text)]
        if told:
            kept = [text for i, text in enumerate(texts) if i not in told]
            if not kept:
                return None
            message = self.u.message(", ".join(kept))
        found = extract.time_words(message, t.now.date(), "future")
        if found and found.words in _NOT_A_WANTED_TIME:
            return None
        if found and self._deadline(found.words, message.analysed.folded):
            return None  # "my profile expires next week": the deadline, not when they want to come
        return self._extract(spec, t, message, answering=False)

    @staticmethod
    def _deadline(time_words: str, folded: str) -> bool:
        """Whether the time words follow "expires (on|in|by)" ("expires in 2 weeks": the
        deadline's words start with "in", which the pattern skips)."""
        words = time_words.split()
        lead = {words[0], next((w for w in words if w not in _TIME_LINKS), words[0])}
        return bool(lead.intersection(_DEADLINE_RE.findall(folded)))

    def _extract(self, spec: FieldSpec, t: _Turn, message: Message, *, answering: bool) -> tuple[str, str | None] | None:
        """(value, parsed) the words give for a field, or None."""
        kind = spec.kind
        if kind == "enum":
            value = extract.enum_value(self.lexicon, spec.name, message)
            return (value, None) if value else None
        if kind == "time":
            found = extract.time_words(message, t.now.date(), "past" if spec.direction == "past" else "future")
            parsed = found.when.isoformat() if found and found.when else None
            if found and not answering:
                if spec.direction == "past" and found.time_of_day_only:
                    return None  # "waking up at 3am", "stiff every morning": when it happens, not since when
                if not spec.durations and found.kinds == ("for_n",):
                    return None
                if found.kinds == ("shift",):
                    return None  # "I work nights, can I get in": the question of when is still open
                return extract.typed_time(self.lexicon, message, found), parsed
            # "whenever, mornings are better" names a time despite its "whenever" (which
            # the time reader takes for "soon")
            named = found is not None and (found.when is not None or set(found.kinds) - {"soon"})
            if answering and (named or not self._knows_not(message)):
                return extract.clean_answer(message.text), parsed
            return None
        if kind == "medication":
            match = extract.medication(self.lexicon, message, self._medication_list(t))
            if match and match.value:
                return match.value, None
            if answering and match and match.unlisted and not self._knows_not(message):
                # asked with the list in front of them, the patient names a kind of drug not on it:
                # keep their words for the care team rather than asking again
                typed = extract.clean_answer(message.text)
                return (typed if len(typed.split()) <= 6 else match.unlisted), None
            if answering and not (match and match.candidates) and not self._knows_not(message):
                typed = extract.clean_answer(message.text)
                if _generic_medication(message):
                    return None  # "my meds": which one is still the question
                if 0 < len(typed.split()) <= 6 and not self._said(t, "no", message):
                    return typed, None
            return None
        if kind == "pharmacy":
            value = extract.pharmacy(self.lexicon, message)
            if answering:
                cleaned = extract.pharmacy_answer(message.text)
                if value and value.startswith("Mail order"):
                    return _mail_order(cleaned), None
                if self._knows_not(message) or cleaned.lower() in ("other", "another", "another pharmacy", "other pharmacy"):
                    return None
                return cleaned, None
            if self._has(self.flows.pharmacy_complaint, message):
                return None  # "the mail order messed up again": where it went wrong, not where to send it
            value = extract.pharmacy(self.lexicon, message, named_only=True)
            return (value, None) if value else None
        if kind == "test":
            value = extract.test_name(self.lexicon, message)
            if value:
                return value, None
            if answering and not self._knows_not(message):
                return extract.clean_answer(message.text), None
            return None
        # free text
        if answering and not self._knows_not(message):
            if spec.none and self._means_none(message):
                return spec.none, None
            return extract.clean_answer(message.text), None
        return None

    def _answer_field(self, t: _Turn, spec: FieldSpec) -> None:
        st = t.state
        value = self._extract(spec, t, t.answer or t.message, answering=True)
        if value is None and spec.none and self._means_none(t.message):
            value = (spec.none, None)
        if value is None and spec.kind == "test" and self._knows_not(t.message) and len(st.words) > 1:
            # not sure which test: the one the opening named, however loosely ("labs")
            value = self._extract(spec, t, self.u.message(st.words[0]), answering=False)
        if value is None and spec.unknown is not None and self._knows_not(t.message):
            value = self._stand_in(st, spec.unknown)
        if value is None:
            attempts = st.attempts.get(spec.name, 0) + 1
            st.attempts[spec.name] = attempts
            fallback = None
            if attempts >= self.flows.max_attempts:
                fallback = self._unsure_which(t, spec) or self._stand_in(st, spec.fallback)
            if fallback is not None:
                value = fallback
                t.replies.append(Reply(self.prompts.render("gave_up")))
            else:
                name = f"invalid_{spec.name}"
                question = self.prompts.render(f"ask_{spec.name}", candidates=self._candidates(t, spec),
                                               fields=dict(st.fields))
                text = (self.prompts.render(name, patient=t.patient) if self.prompts.exists(name)
                        else self.prompts.render("invalid", question=question))
                t.replies.append(Reply(text, self._quick_replies(t, spec)))
                return
        self._set(st, spec.name, *value)
        self._also_answered(t, spec, t.answer or t.message)

    def _also_answered(self, t: _Turn, answered: FieldSpec, message: Message) -> None:
        """An answer that gives more than was asked ("tuesday morning, video, it's for my
        knee"; "allopurinol, for the gout. to the base pharmacy as usual") fills the other
        fields it names, as an opening would; free text (a reason, a symptom) is only
        taken when asked for."""
        st = t.state
        for spec in self._flow(st).fields:
            if (spec.name in st.fields or spec.name == answered.name
                    or spec.from_opening in ("never", "reason", "symptom", "self_care", "onset")):
                continue
            value = self._from_opening(spec, t, message)
            if value is None:
                continue
            if spec.kind == "enum" and value[0] in _NOT_A_CHOICE:
                continue  # "Friday if you have anything" chose no visit type
            if spec.kind == "time" and value[1] is None:
                continue  # "250s in the morning" tells when the sugar is high, not when to come
            self._set(st, spec.name, *value)

    def _unsure_which(self, t: _Turn, spec: FieldSpec) -> tuple[str, None] | None:
        """The patient could not say which of their medications "the prostate pill" is:
        the team gets the ones it could be, not a bare "not sure"."""
        if spec.kind != "medication":
            return None
        for words in t.state.words:
            match = extract.medication(self.lexicon, self.lexicon.message(words), self._medication_list(t))
            if match and not match.value and match.candidates:
                return "not sure which: " + " or ".join(match.candidates), None
        return None

    @staticmethod
    def _stand_in(st: ConversationState, value: str | None) -> tuple[str, None] | None:
        """An `unknown:` or `fallback:` value as filed; "@opening" is the patient's own
        opening words (None when the opening was only the request itself)."""
        if value is None:
            return None
        if value != OPENING:
            return value, None
        if len(st.words) > 1:
            return extract.clean_answer(st.words[0])[:300], None
        return None

    def _answer_patient(self, t: _Turn) -> None:
        st = t.state
        who = extract.patient_value(self.lexicon, t.message, t.patient.dependents, answering=True)
        if who is None:
            st.attempts["patient"] = st.attempts.get("patient", 0) + 1
            t.replies.append(Reply(self.prompts.render("invalid_patient", patient=t.patient), self._patient_replies(t)))
            return
        st.fields["patient"] = who
        # The answer may carry more: "for Sophie, her 12 month checkup".
        self._prefill(t, t.message)

    def _set(self, st: ConversationState, name: str, value: str, parsed: str | None) -> None:
        st.fields[name] = value
        if parsed:
            st.parsed[name] = parsed
        else:
            st.parsed.pop(name, None)
        st.attempts.pop(name, None)

    # -- asking the next question -------------------------------------------------------

    def _missing(self, st: ConversationState, patient: PatientContext) -> str | None:
        if patient.dependents and "patient" not in st.fields:
            return "patient"
        for spec in self._flow(st).fields:
            if spec.name not in st.fields:
                return spec.name
        return None

    def _advance(self, t: _Turn) -> None:
        st = t.state
        if t.replies and st.awaiting and st.awaiting in st.attempts:
            return  # we just re-asked this field
        if st.awaiting == "change" and t.replies:
            return
        if st.awaiting == "patient" and "patient" not in st.fields and t.replies:
            return
        missing = self._missing(st, t.patient)
        if missing is None:
            st.status = "confirming"
            st.awaiting = "confirm"
            t.replies.append(self._summary(t))
            return
        st.status = "collecting"
        st.awaiting = missing
        t.replies.append(self._question(st, t.patient, t.clinic))

    def _question(self, st: ConversationState, patient: PatientContext, clinic: ClinicContext) -> Reply:
        name = st.awaiting
        if name is None or name == "intent":
            return Reply(self.prompts.render("menu", kind=""), self._menu_replies())
        if name == "confirm":
            return self._summary_for(st)
        if name == "patient":
            return Reply(self.prompts.render("ask_patient"), ("Me", *(d.name.split()[0] for d in patient.dependents)))
        if name == "change":
            return Reply(self.prompts.render("which_field"), self._change_replies(st))
        spec = self._flow(st).field(name)
        medications = self._medications_for(st, patient)
        candidates = medications if spec.kind == "medication" else ()
        return Reply(self.prompts.render(f"ask_{name}", candidates=candidates, fields=dict(st.fields)),
                     self._quick_replies_for(spec, medications))

    def _candidates(self, t: _Turn, spec: FieldSpec) -> tuple[str, ...]:
        return self._medication_list(t) if spec.kind == "medication" else ()

    def _quick_replies(self, t: _Turn, spec: FieldSpec) -> tuple[str, ...]:
        return self._quick_replies_for(spec, self._medication_list(t))

    def _quick_replies_for(self, spec: FieldSpec, medications: tuple[str, ...]) -> tuple[str, ...]:
        if spec.quick_replies:
            return spec.quick_replies
        if spec.kind == "enum":
            return tuple(self.flows.value_labels.get(spec.name, {}).values())
        if spec.kind == "medication":
            return medications
        return ()

    def _patient_replies(self, t: _Turn) -> tuple[str, ...]:
        return ("Me", *(d.name.split()[0] for d in t.patient.dependents))

    # -- read-back, corrections and filing ------------------------------------------------

    def _summary_rows(self, st: ConversationState) -> list[tuple[str, str]]:
        rows = []
        labels = self.flows.field_labels
        if "patient" in st.fields:
            who = st.fields["patient"]
            rows.append((labels["patient"], "You" if who == "self" else who))
        for spec in self._flow(st).fields:
            if spec.name in st.fields:
                rows.append((labels.get(spec.name, spec.name), self.flows.label_value(spec.name, st.fields[spec.name])))
        return rows

    def _summary_for(self, st: ConversationState) -> Reply:
        text = self.prompts.render("confirm", intent_label=self.flows.labels[st.intent or "other"],
                                   summary=self._summary_rows(st))
        return Reply(text, CONFIRM_REPLIES)

    def _summary(self, t: _Turn) -> Reply:
        return self._summary_for(t.state)

    def _confirm(self, t: _Turn) -> None:
        st = t.state
        changed = self._corrections(t)
        if changed:
            labels = [self.flows.field_labels.get(n, n).lower() for n in changed]
            t.replies.append(Reply(self.prompts.render("changed", labels=labels)))
            t.replies.append(self._summary(t))
            return
        if self._note_correction(t):
            return
        if self._said(t, "no"):
            st.awaiting = "change"
            st.status = "collecting"
            t.replies.append(Reply(self.prompts.render("which_field"), self._change_replies(st)))
            return
        if self._said(t, "yes"):
            self._file(t)
            return
        t.replies.append(self._summary(t))

    def _note_correction(self, t: _Turn) -> bool:
        """A correction in the patient's own words that names no field ("it's actually
        the left shoulder, not the right") is added to the request's own description
        (reason, symptom or message) for the care team, and the summary shown again."""
        st = t.state
        stems = set(t.message.analysed.all_stems)
        if not stems & _CONTRAST_STEMS or len(stems) < 4:
            return False
        first = self._flow(st).fields[0] if self._flow(st).fields else None
        if first is None or first.kind != "text" or first.name not in st.fields:
            return False
        note = extract.clean_answer(t.message.text)
        st.fields[first.name] = f"{st.fields[first.name]} (correction: {note})"[:MAX_TEXT]
        label = self.flows.field_labels.get(first.name, first.name).lower()
        t.replies.append(Reply(self.prompts.render("changed", labels=[label])))
        t.replies.append(self._summary(t))
        return True

    def _corrections(self, t: _Turn) -> list[str]:
        """Fields the words correct, applied to the state; [] when none."""
        st = t.state
        msg = self._correction_focus(t.message)
        changed: list[str] = []
        deps = t.patient.dependents
        if deps:
            who = extract.dependent_named(msg.text, deps)
            if who and who != st.fields.get("patient"):
                st.fields["patient"] = who
                changed.append("patient")
        for spec in self._flow(st).fields:
            value = self._correction_value(spec, t, msg)
            if value is not None and value[0] != st.fields.get(spec.name):
                self._set(st, spec.name, *value)
                changed.append(spec.name)
        return changed

    def _correction_focus(self, message: Message) -> Message:
        """"make it Wednesday morning instead, Tuesday I have Dakota's thing", "one change:
        make it Thursday, Fridays don't work anymore": the clauses that assign the new value;
        the others give the reason, and may name another day or another child."""
        assigning = [text for text, lattice in zip(_clause_texts(message), message.lattices) if self._assigns(lattice)]
        if not assigning or len(assigning) == len(message.lattices):
            return message
        return self.u.message(", ".join(assigning))

    def _assigns(self, lattice: Lattice) -> bool:
        return any(True for _ in self.flows.assigning.find(lattice))

    def _correction_value(self, spec: FieldSpec, t: _Turn, msg: Message) -> tuple[str, str | None] | None:
        if spec.kind == "test":
            found = self._extract(spec, t, msg, answering=False)
            current = t.state.fields.get(spec.name, "")
            if found and extract.generic_test(found[0].split()) and not extract.generic_test(current.split()):
                return None  # "the blood draw was on the 3rd" dates the test, it does not rename it
            return found
        if spec.kind in ("enum", "time"):
            return self._extract(spec, t, msg, answering=False)
        if spec.kind == "medication":
            match = extract.medication(self.lexicon, msg, self._medication_list(t))
            if match and not match.value and len(match.candidates) == 2 and t.state.fields.get(spec.name) in match.candidates:
                # "no, I meant the furosemide, I still have plenty of the losartan": of the two
                # named, the one not already in the request
                return next(c for c in match.candidates if c != t.state.fields.get(spec.name)), None
            return (match.value, None) if match and match.value and match.value in t.patient.medications else None
        if spec.kind == "pharmacy":
            value = extract.pharmacy(self.lexicon, msg, named_only=True)
            if value is None:
                return None
            cleaned = extract.pharmacy_answer(msg.text)
            return (_mail_order(cleaned) if value.startswith("Mail order") else cleaned), None
        label = self.flows.field_labels.get(spec.name, spec.name).lower()
        folded = msg.analysed.folded
        if label in folded or spec.name.replace("_", " ") in folded:
            rest = re.split(rf"(?:{re.escape(label)}|{re.escape(spec.name.replace('_', ' '))})\s*(?:is|to|should be|:)?\s*", folded, maxsplit=1)
            value = extract.clean_answer(rest[-1]) if len(rest) > 1 else ""
            return (value, None) if value else None
        return None

    def _answer_change(self, t: _Turn) -> None:
        st = t.state
        st.status = "collecting"
        folded = " ".join(t.message.analysed.folded.replace("_", " ").split()).strip(" .!?")
        names = ["patient", *self._flow(st).field_names]
        labels = {self.flows.field_labels.get(n, n).lower(): n for n in names}
        labels.update({n.replace("_", " "): n for n in names})
        if folded in labels:  # a tapped button: ask that field again
            name = labels[folded]
            st.fields.pop(name, None)
            st.parsed.pop(name, None)
            st.awaiting = None
            return
        if self._corrections(t):
            st.awaiting = None
            return
        for label, name in labels.items():
            if label in folded:
                st.fields.pop(name, None)
                st.parsed.pop(name, None)
                st.awaiting = None
                return
        if self._said(t, "yes") or self._knows_not(t.message):
            st.awaiting = None  # nothing to change after all: the summary again
            return
        t.replies.append(Reply(self.prompts.render("which_field"), self._change_replies(st)))

    def _change_replies(self, st: ConversationState) -> tuple[str, ...]:
        names = (["patient"] if "patient" in st.fields else []) + list(self._flow(st).field_names)
        return tuple(self.flows.field_labels.get(n, n) for n in names)

    def _file(self, t: _Turn) -> None:
        st = t.state
        st.status = "filed"
        st.awaiting = None
        fields = dict(st.fields)
        fields.setdefault("patient", "self")
        st.fields = fields
        t.effects.append(FileRequest(
            intent=st.intent or "other",
            patient=fields["patient"],
            fields=dict(fields),
            parsed=dict(st.parsed),
            patient_words=tuple(st.words),
            safety_checked=st.safety.get("cleared"),
            safety_unsure=bool(st.safety.get("unsure")),
        ))
        t.replies.append(Reply(self.prompts.render("filed", intent_label=self.flows.labels[st.intent or "other"])))

    # -- small helpers ----------------------------------------------------------------

    def _has(self, index, message: Message) -> bool:  # type: ignore[no-untyped-def]
        return any(True for lattice in message.lattices for _ in index.find(lattice))

    def _intent_score(self, message: Message, intent: str) -> float:
        return self.u.classify(message).scores.get(intent, 0.0)

    def _knows_not(self, message: Message) -> bool:
        return extract.has_cue(self.lexicon, "unknown", message) and len(message.analysed.all_stems) <= 8

    def _means_none(self, message: Message) -> bool:
        """"Nothing yet", but not "nothing yet, just washed it with soap" (that is something)."""
        return self._only(message, "none") and not self._has(self.flows.self_care_words, message)

    def _only(self, message: Message, cue: str) -> bool:
        return extract.has_cue(self.lexicon, cue, message) and len(message.analysed.all_stems) <= 6
