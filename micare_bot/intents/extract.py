"""Field extractors: from patient words to the values of SPEC §2.

Each extractor is a pure function of an analysed message (and the patient's
context where it matters). ``None`` means "this text does not give the field";
it never raises on odd input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import date
from typing import Iterable, Sequence

from rapidfuzz import fuzz

from ..models import Dependent
from ..text import fold, raw_tokens
from .lexicon import Lexicon, Message
from .phrases import Match
from .timeparse import Direction, TimeFound, find_time

# Words that only introduce an answer: "no, send it to the Walgreens" -> "Walgreens ...".
_LEAD_RE = re.compile(
    r"^\s*(?:(?:no|nope|nah|yes|yeah|yep|ok|okay|sure|well|um+|uh+|so|oh|actually|sorry|wait|hmm+|hi|hello|hey|heya|hiya|yo|please|pls|plz)\b(?:\s+there\b|\s+all\b|\s+team\b|\s+guys\b|\s+folks\b|\s+y'?all\b)?[\s,.!-]*)+",
    re.I,
)
_FILLER_RE = re.compile(
    r"^\s*(?:(?:can|could|would|will)\s+you\s+|please\s+|i\s+(?:would|'d)\s+like\s+(?:it\s+)?|i\s+want\s+(?:it\s+)?|"
    r"make\s+it\s+|change\s+it\s+to\s+|switch\s+it\s+to\s+|(?:change|switch|make|set)\s+the\s+(?:pharmacy|preferred\s+time|time|day|date|test\s+date|visit\s+type|delivery)\s+(?:to|be)\s+|(?:the\s+)?(?:pharmacy|preferred\s+time|time|date|visit\s+type|delivery)\s+should\s+be\s+|send\s+(?:it\s+)?(?:to|by|via|through)\s+|to\s+|"
    r"it\s+(?:is|was|'s)\s+|its\s+|the\s+one\s+(?:at|on|by)\s+)+",
    re.I,
)
_TRAIL_RE = re.compile(r"[\s,.!]*(?:instead|please|thanks|thank you|thx|pls|plz)?[\s.!]*$", re.I)


def clean_answer(text: str) -> str:
    """The patient's answer without lead-ins and trailing pleasantries, casing kept."""
    text = " ".join(text.split())
    stripped = _LEAD_RE.sub("", text)
    stripped = _FILLER_RE.sub("", stripped)
    stripped = _TRAIL_RE.sub("", stripped).strip(" ,.;:!?")
    return stripped or text.strip(" ,.;:!?")


_PHARMACY_LEAD_RE = re.compile(
    r"^\s*(?:(?:i|we)\s*(?:will|['\u2019]ll|can|could|would|['\u2019]d)?\s*(?:pick\s+(?:it|them)\s+up|get\s+(?:it|them)|grab\s+(?:it|them)|"
    r"collect\s+(?:it|them)|go\s+to|use|usually\s+use|always\s+use)|(?:please\s+)?(?:fill|filled|get\s+it\s+filled|have\s+it\s+filled)\s*(?:it)?)"
    r"\s+(?:at\s+|from\s+)?",
    re.I,
)


def pharmacy_answer(text: str) -> str:
    """A pharmacy answer without "I'll pick it up at" ("I'll pick it up at the base pharmacy" -> "the base pharmacy")."""
    cleaned = clean_answer(text)
    return _PHARMACY_LEAD_RE.sub("", cleaned, count=1).strip() or cleaned


def _words(message: Message, clause: int, start: int, end: int) -> str:
    return " ".join(message.words[clause][start:end])


def _matches(index, message: Message) -> list[tuple[int, Match]]:  # type: ignore[no-untyped-def]
    return [(c, m) for c, lattice in enumerate(message.lattices) for m in index.find(lattice)]


def has_cue(lexicon: Lexicon, name: str, message: Message) -> bool:
    return any(True for _ in _matches(lexicon.cue_index[name], message))


# -- enumerations ---------------------------------------------------------------

_NEGATORS = frozenset({"not", "no", "dont", "don't", "without", "never"})
_CORRECTION_STEMS = frozenset({"actual", "instead", "rather", "wait", "chang", "make", "switch", "mean"})


def _negated_before(words: Sequence[str], start: int) -> bool:
    """A negation up to three words before: "I don't do the video thing" (do not do the
    video) rules video out; "I would not mind video" does not."""
    for i in range(start - 1, max(0, start - 3) - 1, -1):
        if words[i] in _SETTLING:
            return False  # "probably not lol so in person": the no was about what came before
        if words[i] in _NEGATORS and (i + 1 >= len(words) or words[i + 1] not in _NOT_NEGATING):
            return True
    return False


_NOT_NEGATING = frozenset({"mind", "matter", "care", "sure"})
_SETTLING = frozenset({"so", "but", "then"})


def _instead_of_before(words: Sequence[str], start: int) -> bool:
    """"pick it up instead of mail", "video rather than in person": the one turned down."""
    before = tuple(words[max(0, start - 3):start])
    return any(before[i:i + 2] in _TURNED_DOWN for i in range(len(before) - 1))


_TURNED_DOWN = frozenset({("instead", "of"), ("rather", "than"), ("better", "than")})
# words of an answer thought aloud that lead to its choice: "school? well its for
# football, for the sports packet. so sports", "ok whatever in person", "other i guess"
_SETTLING_WORDS = frozenset({"so", "ok", "okay", "well", "no", "nah", "hmm", "hm", "fine", "better"})


# "no, the severity should be moderate, it's worse than I said": the value assigned; "phone
# or video, either works... let's do phone", "is mail faster? ... I'll just pick it up": chosen
_ASSIGNING = frozenset({("should", "be"), ("must", "be"), ("to", "be"), ("it", "is"), ("set", "to"),
                        ("lets", "do"), ("lets", "say"), ("just", "say"), ("go", "with"), ("will", "just"),
                        ("just", "do"), ("will", "take"), ("make", "it"), ("lets", "go"), ("will", "do")})


def _settled(message: Message, found: Sequence[tuple[int, int, str, int]]) -> str | None:
    """The value an answer that changes its mind ends on: the last one named right after
    a settling word ("so sports"), before "i guess" ("other i guess"), or at the head of a
    clause once the patient has started thinking aloud ("severe. well, I can walk on it.
    moderate"). None when no mention is settled that way."""
    words = message.words
    thinking = [(c, i) for c, clause in enumerate(words) for i, w in enumerate(clause) if w in _SETTLING_WORDS]
    for c, end, value, start in reversed(found):
        clause = words[c]
        lead = tuple(clause[max(0, start - 2):start])
        if (_SETTLING_WORDS.intersection(lead) or lead in _ASSIGNING
                or tuple(clause[end:end + 2]) == ("i", "guess")
                or (start == 0 and any(spot < (c, 0) for spot in thinking))):
            return value
    return None


# fields.yaml enum keys that name no value: their phrases only shadow the shorter
# phrases inside them ("sick call" is not a phone call); `_not_in_opening` ones
# do so only in an opening ("can I come in for that" asks for a visit, it does
# not choose one).
NOT_VALUE = "_not"
NOT_IN_OPENING = "_not_in_opening"


def enum_value(lexicon: Lexicon, field: str, message: Message, *, opening: bool = False) -> str | None:
    """The enumeration value the words name, if any ("a video visit is fine" -> virtual)."""
    index = lexicon.enum_index.get(field)
    if index is None:
        return None
    shadows = (NOT_VALUE, NOT_IN_OPENING) if opening else (NOT_VALUE,)
    matches = [(c, m) for c, m in _matches(index, message) if m.payload != NOT_IN_OPENING or opening]
    found: list[tuple[int, int, str, int]] = []  # clause, end, value, start
    for c, m in matches:
        if m.payload in shadows:
            continue
        if any(c2 == c and m2.start <= m.start and m.end <= m2.end and m2.end - m2.start > m.end - m.start
               for c2, m2 in matches):
            # inside a longer phrase: of another value ("video call" is not a phone call), or
            # of its own ("over video" is one mention of video, not two)
            continue
        if _negated_before(message.clauses[c], m.start) or _instead_of_before(message.clauses[c], m.start):
            continue
        found.append((c, m.end, m.payload, m.start))
    if not found:
        return None
    values = {f[2] for f in found}
    if len(values) == 1:
        return found[0][2]
    stems = {s for clause in message.clauses for s in clause}
    if stems & _CORRECTION_STEMS:
        # "actually can I pick it up instead? mail is so slow": the value in the clause
        # that makes the correction; else the last one named ("in person, no wait, video")
        correcting = [f for f in found if _CORRECTION_STEMS & set(message.clauses[f[0]])]
        return max(correcting or found)[2]
    settled = _settled(message, found)
    if settled is not None:
        return settled
    opener = [f for f in found if f[0] == 0 and f[3] == 0]
    if opener and all(f[2] == opener[0][2] for f in found if f[0] == 0):
        # the answer opens with its value, then thinks aloud: "in person i guess, can they
        # do it over video? probably not lol so in person", "moderate, she is still eating
        # a little"
        return opener[0][2]
    order = lexicon.enum_priority.get(field, ())
    return min(values, key=lambda v: order.index(v) if v in order else len(order))


# -- medication -----------------------------------------------------------------


@dataclass(frozen=True)
class MedicationMatch:
    value: str | None  # the list entry, or the drug as typed; None when ambiguous
    candidates: tuple[str, ...] = ()  # list entries the words could mean
    unlisted: str | None = None  # a kind of drug none of the list's entries is ("the water pill")


@lru_cache(maxsize=4096)
def _generics_of(lexicon: Lexicon, entry: str) -> frozenset[str]:
    """Every generic a list entry names ("Norgestimate-ethinyl estradiol" -> both parts we know)."""
    return frozenset(m.payload for _, m in _matches(lexicon.drug_index, lexicon.message(entry)))


def medication(lexicon: Lexicon, message: Message, medications: Sequence[str]) -> MedicationMatch | None:
    """Which of the patient's medications the words mean, or the drug as typed."""
    named: list[tuple[int, Match]] = _matches(lexicon.drug_index, message)
    generics = {m.payload for _, m in named}
    entries = {entry: _generics_of(lexicon, entry) for entry in medications}
    hits = _by_form(lexicon, message, [e for e, g in entries.items() if g & generics])
    if len(hits) == 1:
        return MedicationMatch(hits[0])
    if len(hits) > 1:
        return MedicationMatch(None, tuple(hits))
    fuzzy = _fuzzy_entries(message, medications)
    if len(fuzzy) == 1:
        return MedicationMatch(fuzzy[0])
    # a drug named outright is the drug, whatever its kind's word beside it matches: "his
    # Flovent inhaler" is no Symbicort on the list because both are inhalers
    class_generics = set() if named else {g for _, m in _matches(lexicon.drug_classes, message) for g in m.payload}
    by_class = _by_form(lexicon, message, [e for e, g in entries.items() if g & class_generics])
    if len(by_class) == 1:
        return MedicationMatch(by_class[0])
    if len(by_class) > 1:
        return MedicationMatch(None, tuple(by_class))
    in_form = _only_in_form(lexicon, message, medications) if not (named or class_generics) else None
    if in_form:
        return MedicationMatch(in_form)  # "my inhaler", "the eye drops": the list's only one
    if named:
        c, m = named[0]
        typed = _words(message, c, m.start, m.end)
        return MedicationMatch(_with_strength(message, c, m.end, typed))
    if class_generics and medications:
        c, m = next((c, m) for c, m in _matches(lexicon.drug_classes, message))
        return MedicationMatch(None, tuple(medications), unlisted=_words(message, c, m.start, m.end))
    return None


def _by_form(lexicon: Lexicon, message: Message, entries: list[str]) -> list[str]:
    """Of several entries, the ones in the dosage form the words name ("the diabetes
    pill" is the metformin tablet, not the insulin pen); all of them when none is named
    or none is in that form."""
    if len(entries) < 2:
        return entries
    for listed in _forms_said(lexicon, message):
        kept = _in_form(entries, listed)
        if kept:
            return kept
    return entries


def _only_in_form(lexicon: Lexicon, message: Message, medications: Sequence[str]) -> str | None:
    """The one list entry in the dosage form the words name, if exactly one is."""
    for listed in _forms_said(lexicon, message):
        kept = _in_form(medications, listed)
        return kept[0] if len(kept) == 1 else None
    return None


def _forms_said(lexicon: Lexicon, message: Message) -> Iterable[frozenset[str]]:
    """How list entries spell each dosage form the patient's words name, in data order."""
    said = {w for clause in message.words for w in clause}
    return (listed for words, listed in lexicon.drug_forms if said & words)


def _in_form(entries: Sequence[str], listed: frozenset[str]) -> list[str]:
    return [e for e in entries if set(raw_tokens(fold(e))) & listed]


def _fuzzy_entries(message: Message, medications: Sequence[str]) -> list[str]:
    """List entries whose first word is (nearly) typed: drugs our table does not know."""
    words = {w for clause in message.words for w in clause if len(w) >= 5}
    found = []
    for entry in medications:
        toks = raw_tokens(fold(entry))
        if not toks or len(toks[0]) < 5:
            continue
        if any(fuzz.ratio(toks[0], w) >= 85 for w in words):
            found.append(entry)
    return found


def _with_strength(message: Message, clause: int, end: int, typed: str) -> str:
    """Keep a strength typed after the drug name ("tretinoin 0.05 cream")."""
    tail = message.words[clause][end:end + 3]
    keep = []
    for w in tail:
        if w[0].isdigit() or w in ("mg", "mcg", "ml", "cream", "gel", "ointment", "inhaler", "patch", "er", "xr"):
            keep.append(w)
        else:
            break
    return " ".join([typed, *keep])


# -- the patient's own words --------------------------------------------------------


def as_typed(lexicon: Lexicon, text: str, words: Sequence[str]) -> str:
    """The stretch of `text` that the analysed `words` came from, as the patient typed it
    ("walgreens on 5" -> "Walgreens on 5th", "express prescriptions" -> "Express Scripts").

    Each whitespace token of the text goes through the same pipeline as a message
    (fold, shorthand, spelling), so the words can be found again; the joined words
    are returned when they cannot.
    """
    wanted = list(words)
    if not wanted:
        return ""
    flat: list[tuple[str, int, int]] = []  # (analysed word, start, end of its token in text)
    for tok in re.finditer(r"\S+", text):
        for w in lexicon.vocab.expand(raw_tokens(fold(tok.group(0)))):
            flat.append((lexicon.vocab.correct(w), tok.start(), tok.end()))
    n = len(wanted)
    for i in range(len(flat) - n + 1):
        if [w for w, _, _ in flat[i:i + n]] == wanted:
            return text[flat[i][1]:flat[i + n - 1][2]].strip(" ,.;:!?()\"'")
    return " ".join(wanted)


# -- pharmacy, test, patient --------------------------------------------------------


def pharmacy(lexicon: Lexicon, message: Message, *, named_only: bool = False) -> str | None:
    """A pharmacy named in the words: "Mail order", or the words around the name.

    With `named_only`, the bare word "pharmacy" ("the pharmacy says I need a new
    script") does not count: only a named one (base, mail order, CVS …) does.
    """
    found = _matches(lexicon.pharmacy_index, message)
    if named_only:
        found = [(c, m) for c, m in found if m.payload != "generic"]
    if not found:
        return None
    kinds = {m.payload for _, m in found}
    if "mail" in kinds and not kinds & {"retail", "on_base"}:
        spans = [message.words[c][m.start:m.end] for c, m in found if m.payload == "mail"]
        words = " ".join(max(spans, key=lambda ws: len(" ".join(ws))))
        return "Mail order" if words in ("mail order", "mail") else f"Mail order ({as_typed(lexicon, message.text, words.split())})"
    best_c, best = max(found, key=lambda cm: (cm[1].payload != "generic", cm[1].end - cm[1].start))
    words = message.words[best_c]
    start = best.start
    while start > 0 and words[start - 1] not in _STOP and best.start - start < 2:
        start -= 1
    end = best.end
    if end < len(words) and words[end] in ("pharmacy", "pharmacies"):
        end += 1
    while end < len(words) and end - best.end < 4 and words[end] in ("on", "in", "at", "by", "near") and end + 1 < len(words):
        end += 2  # "Walgreens on Lake", "the CVS in Bellevue"
        while end < len(words) and end - best.end < 6 and (words[end] in _STREET or words[end][0].isdigit()):
            end += 1  # "CVS on Main St", "Walmart on Route 9", "Walgreens on 5th"
    return as_typed(lexicon, message.text, words[start:end])


_STREET = frozenset(
    "st street rd road ave avenue blvd boulevard dr drive hwy highway pkwy parkway way ln lane ct court pl place "
    "th nd rd north south east west".split()
)


_STOP = frozenset({
    "my", "the", "a", "an", "to", "at", "from", "on", "of", "for", "in", "his", "her", "their", "our",
    "your", "it", "send", "use", "is", "was", "and", "or", "me", "i", "please", "with", "fill", "refill",
    "recent", "last", "latest", "new", "that", "this", "any", "about", "did", "what", "when", "whats",
})


def test_name(lexicon: Lexicon, message: Message) -> str | None:
    """The test or study the words name ("my echocardiogram", "the foot film"); tests named
    in different clauses are all kept, in order ("my uric acid level from the blood work?
    And the kidney numbers" -> "uric acid level, kidney numbers")."""
    found = _matches(lexicon.test_index, message)
    # "it was the MRI of my shoulder, not an xray": the test ruled out is not the one meant
    found = [cm for cm in found if not _negated_before(message.words[cm[0]], cm[1].start)] or found
    if not found:
        return None
    # "my bloood work resluts, the cbc from my phisical": the test named, not the word for tests
    specific = [cm for cm in found if not generic_test(message.words[cm[0]][cm[1].start:cm[1].end])]
    if not specific:
        c, m = max(found, key=lambda cm: (cm[1].end - cm[1].start, -cm[1].start))
        return _test_in_clause(lexicon, message, c, m, found)
    named: list[str] = []
    for c in sorted({c for c, _ in specific}):
        m = max((m for clause, m in specific if clause == c), key=lambda m: (m.end - m.start, -m.start))
        typed = _test_in_clause(lexicon, message, c, m, found)
        if not any(typed.lower() in earlier.lower() or earlier.lower() in typed.lower() for earlier in named):
            named.append(typed)
    return ", ".join(named)


def _test_in_clause(lexicon: Lexicon, message: Message, c: int, m: Match,
                    found: Sequence[tuple[int, Match]]) -> str:
    """One clause's test as typed, grown by the words that belong to its name."""
    words = message.words[c]
    start, end = _joined(m.start, m.end, [hit for clause, hit in found if clause == c], words)
    first = start
    while start > 0 and words[start - 1] in _TEST_QUALIFIERS and first - start < 2:
        start -= 1
    while end < len(words) and end - m.end < 2 and words[end] in _TEST_NOUNS:
        end += 1  # "kidney function labs", "thyroid panel test"
    # "x-ray of my left foot", "bloodwork to check her iron"
    tail = _TEST_TAIL_RE.match(" ".join(words[end:end + 6]))
    if tail and not _not_a_test_part(tail.group(0).split()[-1]):
        named = [*words[start:end], *tail.group(0).split()]
        rest = words[end + len(tail.group(0).split()):]
        while len(rest) >= 2 and rest[0] in _TEST_JOINERS and rest[1] in _TEST_QUALIFIERS:
            named += rest[:2]  # "blood test for sugar and cholesterol"
            rest = rest[2:]
        return as_typed(lexicon, message.text, named)
    typed = as_typed(lexicon, message.text, words[start:end])
    checked = _checked_for(message, c) if generic_test(words[start:end]) else None
    return f"{typed} ({checked})" if checked else typed


def _checked_for(message: Message, named_in: int) -> str | None:
    """What a generic test looked for, said in another clause: "did Liam's blood work come
    back? they checked his iron" -> "iron"."""
    for c, words in enumerate(message.words):
        if c == named_in:
            continue
        for hit in _CHECKED_RE.finditer(" ".join(words)):
            if hit.group(1) in _TEST_QUALIFIERS and hit.group(1) not in _NOT_ANALYTES:
                return hit.group(1)
    return None


def _joined(start: int, end: int, hits: Sequence[Match], words: Sequence[str]) -> tuple[int, int]:
    """The span grown by the test names that touch it or follow an "and": "DEXA bone scan"
    is one test named twice, "A1c and lipid panel" two asked about together."""
    def touches(hit: Match) -> bool:
        return (hit.start <= end and hit.end >= start
                or hit.start == end + 1 and words[end] in _TEST_JOINERS
                or hit.end + 1 == start and words[hit.end] in _TEST_JOINERS)

    grown = True
    while grown:
        grown = False
        for hit in hits:
            if touches(hit) and (hit.start < start or hit.end > end):
                start, end, grown = min(start, hit.start), max(end, hit.end), True
    return start, end


_TEST_JOINERS = frozenset(("and", "plus", "&"))
_GENERIC_TEST_WORDS = frozenset("blood draw work lab labs test tests scan bloodwork imaging radiology the my his her a".split())


def generic_test(words: Sequence[str]) -> bool:
    """Words that name no particular test ("blood work", "my labs", "the scan")."""
    return all(w.lower() in _GENERIC_TEST_WORDS for w in words)


def _not_a_test_part(word: str) -> bool:
    """A word after "on"/"for" that dates the test or names the person, not the body part:
    "mammogram on the 2nd", "hearing test for my son"."""
    return word[0].isdigit() or word in _TAIL_NOT_PARTS or any(
        word.startswith(d) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))


_TEST_TAIL_RE = re.compile(
    r"^(?:of|on|for|to check|checking|to look at|looking at)\s+(?:(?:my|his|her|their|the|a|an|your|left|right|lower|upper)\s+){0,3}[a-z0-9]+"
)
_TEST_NOUNS = frozenset("labs lab test tests panel level levels bloodwork screen screening work".split())
_TAIL_NOT_PARTS = frozenset(
    "son sons daughter daughters kid kids child children baby boy girl husband wife spouse partner mom dad "
    "mother father him her them me myself school work job today yesterday tomorrow last week month year "
    "morning afternoon evening night january february march april may june july august september october "
    "november december jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# qualifiers that name a body part, not what the blood was tested for
_NOT_ANALYTES = frozenset("chest foot knee head back hip shoulder hand wrist ankle neck leg arm left right".split())
_CHECKED_RE = re.compile(
    r"\b(?:checked|checking|check|tested|testing|test|looked at|looking at|screened|screening)\s+"
    r"(?:for\s+)?(?:(?:my|his|her|their|the|a|an|your)\s+)?([a-z0-9]+)\b"
)
_TEST_QUALIFIERS = frozenset(
    "chest foot knee abdominal pelvic head brain lumbar spine back hip shoulder hand wrist ankle neck breast "
    "thyroid kidney liver heart cardiac lung sleep stress fasting urine stool skin mole annual routine left right "
    "dental sinus leg arm elbow finger toe renal carotid abdomen prostate bone "
    "cholesterol lipid sugar glucose diabetes diabetic iron vitamin hormone std sti hiv pregnancy allergy "
    "covid strep a1c inr psa".split()
)


def dependent_named(text: str, dependents: Sequence[Dependent]) -> str | None:
    """The dependent whose first name the words give first (typos and possessives allowed).

    A typo keeps the name's first letter: "thank you" is not Ethan. When two children
    are named, the first one is whom the request is for ("Lily for now, I'll do
    Caleb's separately"), unless the patient corrects themself ("Ethan - no sorry, I mean
    Zoe").
    """
    all_tokens = raw_tokens(fold(text))
    # "for Eli, not Harper": a name right after a negation is the one being ruled out
    # ("wait no, Sophie" corrects to Sophie)
    tokens = [(i, t) for i, t in enumerate(all_tokens)
              if not t[0].isdigit() and not _ruled_out(all_tokens, i)]
    firsts: dict[str, tuple[int, float]] = {}  # name -> (position, -score) of its first mention
    capitalised = {fold(w) for w in _CAPITALISED_RE.findall(text)}
    for dep in dependents:
        name = fold(dep.name.split()[0])
        sound = _sounds(name) if len(name) >= 4 else None
        for i, tok in tokens:
            for cand in (tok, tok[:-1] if tok.endswith("s") else tok):
                score = 100.0 if cand == name else (
                    fuzz.ratio(cand, name) if len(name) >= 5 and cand[:1] == name[:1] else 0.0)
                if score < 80 and cand in capitalised and _short_for(cand, name):
                    score = 90.0  # "Theo needs his ADHD follow up" is Theodore, "Livvy" Olivia
                if score < 80 and sound is not None and _sounds(cand) == sound:
                    score = 85.0  # "Sophia" for Sofia, "jaxon" for Jackson
                first = dep.name.split()[0]
                if score >= 80 and (first not in firsts or (i, -score) < firsts[first]):
                    firsts[first] = (i, -score)
    if not firsts:
        return None
    ordered = sorted(firsts, key=firsts.__getitem__)
    if len(ordered) > 1:
        # "Ethan - no sorry, I mean Zoe", "brandon's - sorry, Lila's": the name corrected to
        between = all_tokens[firsts[ordered[0]][0] + 1:firsts[ordered[-1]][0]]
        if _NAME_CORRECTIONS.intersection(between):
            return ordered[-1]
    return ordered[0]


def _short_for(word: str, name: str) -> bool:
    """A name cut short ("Theo" for Theodore, "Alex" for Alexandra) or its pet form ("Katie"
    for Katherine, "Livvy" for Olivia, "Bella" for Isabella): written with a capital (so
    "will" is not William), at least three letters, and the start or the middle of a
    longer name."""
    if word in _NOT_NICKNAMES:
        return False
    for stem in {word, _DIMINUTIVE_RE.sub("", word)}:
        stem = re.sub(r"(.)\1+", r"\1", stem)  # "livv" -> "liv"
        if 3 <= len(stem) < len(name) and (name.startswith(stem) or stem in name):
            return True
    return False


def _sounds(name: str) -> str:
    """A name's spelling folded to its sound ("sophia" and "sofia", "jaxon" and "jackson")."""
    key = name.lower()
    for a, b in (("ph", "f"), ("ck", "k"), ("x", "ks"), ("c", "k"), ("y", "i"), ("z", "s")):
        key = key.replace(a, b)
    key = re.sub(r"(.)\1+", r"\1", key)
    return key[:-1] if len(key) > 4 and key.endswith("h") else key


_DIMINUTIVE_RE = re.compile(r"(?:ie|ey|y)$")
# capitalised words that are pet forms of no one here: "Will you...", "May I..."
_NOT_NICKNAMES = frozenset({"will", "may", "can", "mark", "art", "bill", "pat", "rob", "sue", "ray", "don", "jack",
                            "hope", "joy", "eve", "ann", "dan", "hey", "her", "his", "the", "and", "but", "ali",
                            "lee", "mia", "kat"})
_CAPITALISED_RE = re.compile(r"\b[A-Z][a-z]+\b")
_NAME_CORRECTIONS = frozenset({"no", "sorry", "mean", "meant", "wait", "actually", "oops", "correction", "scratch",
                               "autocorrect", "typo", "ugh"})  # "Mila — ugh autocorrect — MILO"
_NO_AS_CORRECTION = _NAME_CORRECTIONS | {"oh"}  # "wait no, Sophie", "oh no, Sophie"


def ruled_out_name(text: str, name: str) -> bool:
    """Whether the words rule this first name out ("it was Liam, not Noah")."""
    tokens = raw_tokens(fold(text))
    folded = fold(name.split()[0])
    return any(t in (folded, folded + "s") and _ruled_out(tokens, i) for i, t in enumerate(tokens))


def _ruled_out(tokens: Sequence[str], i: int) -> bool:
    before = tokens[i - 1] if i > 0 else ""
    if before in ("not", "nor"):
        return True
    return before == "no" and (i < 2 or tokens[i - 2] not in _NO_AS_CORRECTION)


def patient_value(lexicon: Lexicon, message: Message, dependents: Sequence[Dependent],
                  *, answering: bool) -> str | None:
    """"self", a dependent's first name, or None when the words do not say whom.

    In an opening only a name settles it; in an answer to "Who is this for?"
    "me" or, with one child on the account, "my son" does too.
    """
    named = dependent_named(message.text, dependents)
    if named:
        return named
    if not answering:
        return None
    if has_cue(lexicon, "self", message):
        return "self"
    if has_cue(lexicon, "child_words", message) and len(dependents) == 1:
        return dependents[0].name.split()[0]
    return None


# -- times ------------------------------------------------------------------------


def time_words(message: Message, today: date, direction: Direction) -> TimeFound | None:
    return find_time(message.analysed.folded, today, direction)


def typed_time(lexicon: Lexicon, message: Message, found: TimeFound) -> str:
    """The time words as the patient typed them ("on the 5 th" -> "on the 5th", "March 3rd")."""
    words = [lexicon.vocab.correct(w) for w in lexicon.vocab.expand(raw_tokens(found.words))]
    typed = as_typed(lexicon, message.text, words)
    return typed if typed != " ".join(words) else _TH_RE.sub(r"\1\2", found.words)


_TH_RE = re.compile(r"\b(\d{1,2}) (st|nd|rd|th)\b")


def first_sentence_with(message: Message, clauses: Iterable[int]) -> str:
    wanted = set(clauses)
    for c, words in enumerate(message.words):
        if c in wanted:
            return " ".join(words)
    return ""
