"""Text normalisation shared by the classifier, triage and extractors.

Patient text goes through one pipeline: lower-case, fold apostrophes and
hyphens, expand texting shorthand, split into clauses, correct misspelt words
against the domain vocabulary, and stem. Lexicon phrases go through the same
pipeline (without spelling correction) so both sides meet on the same stems.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import snowballstemmer
from rapidfuzz import fuzz, process

_STEMMER = snowballstemmer.stemmer("english")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
# Tokens: "{drug}" markers, words (a letter run with a digit in it is one token: "a1c",
# "b12"), numbers. Written so that a word is read in one pass: the plain
# `[a-z]+\d[a-z\d]*|...|[a-z\u00e0-\u00ff]+` tried the digit branch first and backtracked
# through every letter of every word; this finds the same tokens (checked on random text).
_TOKEN_RE = re.compile(r"\{[a-z]+\}|[a-z]+(?:\d[a-z\d]*|[\u00e0-\u00ff][a-z\u00e0-\u00ff]*)?|\d+(?:\.\d+)?"
                       r"|[\u00e0-\u00ff][a-z\u00e0-\u00ff]*")
# Clause boundaries: sentence punctuation, commas, and the words that turn a
# sentence around ("no fever but now my chest hurts").
_CLAUSE_SPLIT_RE = re.compile(
    r"[.!?;:\n]+(?:\s|$)|,|\(|\)|\s[-\u2013\u2014]+\s|\b(?:but|however|though|although|except|and now|now|yet)\b"
)
# The same without the words: trying the word branch at every position is most of the
# split's cost, and a text that holds none of the words as a substring cannot match it.
_CLAUSE_SPLIT_PUNCT_RE = re.compile(r"[.!?;:\n]+(?:\s|$)|,|\(|\)|\s[-\u2013\u2014]+\s")
_CLAUSE_WORDS = ("but", "however", "though", "except", "now", "yet")  # in every word match
_SENTENCE_SPLIT_RE = re.compile(r"[.!?\n]+(?:\s|$)")
# "10mg" -> "10 mg", "100.4F" -> "100.4 f": numbers are their own tokens.
_NUM_GLUE_RE = re.compile(
    r"(?<![a-z])(\d[\d.]*)(mg|mcg|ml|g|kg|lbs?|f|c|yo|yrs?|am|pm|st|nd|rd|th|x|hrs?|h|mins?|days?|wks?|weeks?|mos?|months?|years?)\b"
)


def _group_then(suffix: str) -> Callable[[re.Match[str]], str]:
    """A sub() replacement: group 1 and then `suffix` (what the template r"\\1 not" makes).
    A template with a group reference is expanded by Python-level code in `re` on every
    call and every match; a function is called once per match and nothing else."""
    def replace(match: re.Match[str]) -> str:
        return match.group(1) + suffix
    return replace


def _groups_joined(match: re.Match[str]) -> str:
    """The template r"\\1\\2" as a function (see _group_then)."""
    return match.group(1) + match.group(2)


def _groups_spaced(match: re.Match[str]) -> str:
    """The template r"\\1 \\2" as a function (see _group_then)."""
    return match.group(1) + " " + match.group(2)


# (text every match contains, pattern, replacement): the substring test is much cheaper
# than a regex pass, and most messages have none of these
_CONTRACTIONS = (
    ("can't", re.compile(r"\bcan't\b"), "can not"),
    ("won't", re.compile(r"\bwon't\b"), "will not"),
    ("n't", re.compile(r"\b(\w+)n't\b"), _group_then(" not")),
    ("'ll", re.compile(r"\b(i|you|he|she|we|they|it|that|there|who)'ll\b"), _group_then(" will")),
    ("'d", re.compile(r"\b(i|you|he|she|we|they|it|that|there|who)'d\b"), _group_then(" would")),
    ("'ve", re.compile(r"\b(i|you|we|they|who)'ve\b"), _group_then(" have")),
    ("'re", re.compile(r"\b(you|we|they|who)'re\b"), _group_then(" are")),
    ("i'm", re.compile(r"\bi'm\b"), "i am"),
)
_INNER_APOSTROPHE_RE = re.compile(r"(\w)'(\w)")  # kid's -> kids (replaced by _groups_joined)


_HAS_DIGIT = re.compile(r"\d").search
_OVERDOSED_RE = re.compile(r"\bo\.?d'?e?d\b(?<!\bodd)|\bo\.d\.\b")

# A street address: "Apt" is the apartment, not the texting "apt" for appointment, after a
# street word ("Eagle Ridge Dr, Apt 2B") or before a unit number that ends the clause
# ("apt 3B.", "apt #12"); "Dr" before the apartment is the drive. "need an apt 2 weeks
# out" and "apt 4 my son" stay appointments.
_STREET = r"(?:dr|drive|st|street|rd|road|ave|avenue|ln|lane|ct|court|blvd|boulevard|cir|circle|pl|place|loop|pkwy|hwy|trl|trail|terrace|ter)"
_ADDRESS_RES = (
    re.compile(r"\b(" + _STREET + r")(\.?,?\s+)apts?\b"),
    re.compile(r"\bapts?\b(?=\.?\s*#\s*\d|\.?\s*\d+\s*[a-z]?\s*(?:[,.;!?)]|$))"),
    re.compile(r"\bdr\b(?=\.?,?\s+(?:apartment|unit|ste|suite)\b)"),
)


def fold(text: str) -> str:
    """Lower-case, drop accents, expand contractions, drop the remaining apostrophes inside words."""
    if not text.isascii() or "`" in text:  # the other apostrophes to fold are not ASCII
        text = text.translate(_APOSTROPHES)
    text = text.lower()
    if not text.isascii():  # accents off: "vómito" and "vomito", "pañal" and "panal" meet
        text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    if "od" in text or "o.d" in text:  # in every match
        text = _OVERDOSED_RE.sub("overdosed", text)  # "od'd", "oded", "o.d."
    if "'" in text:
        for needle, pattern, repl in _CONTRACTIONS:
            if needle in text:
                text = pattern.sub(repl, text)
        text = _INNER_APOSTROPHE_RE.sub(_groups_joined, text)  # kid's -> kids
    if "apt" in text:  # in every match
        street, unit, drive = _ADDRESS_RES
        text = unit.sub("apartment", street.sub(r"\1\2apartment", text))
        text = drive.sub("drive", text)
    if _HAS_DIGIT(text):  # every glued number has a digit; most messages have none
        text = _NUM_GLUE_RE.sub(_groups_spaced, text)
    return text


def raw_tokens(text: str) -> list[str]:
    """Word and number tokens of already-folded text."""
    return _TOKEN_RE.findall(text)


def split_clauses(text: str) -> list[str]:
    """Clauses of folded text; negation and history cues do not cross them."""
    pattern = _CLAUSE_SPLIT_RE if any(map(text.__contains__, _CLAUSE_WORDS)) else _CLAUSE_SPLIT_PUNCT_RE
    return [c for c in pattern.split(text) if c and c.strip()]


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_SPLIT_RE.split(text) if s.strip()]


class Memo(dict):  # type: ignore[type-arg]
    """A one-argument function's results by argument, bounded: when it holds `limit`
    results it starts over. Unlike functools.lru_cache(maxsize=...), a hit does no
    bookkeeping (the LRU list is relinked on every hit, and with a cache this size the
    links are rarely in the CPU cache): a message looks up every word twice."""

    __slots__ = ("_function", "_limit")

    def __init__(self, function: Callable[[str], str], limit: int) -> None:
        super().__init__()
        self._function = function
        self._limit = limit

    def __missing__(self, key: str) -> str:
        value = self._function(key)
        if len(self) >= self._limit:
            self.clear()
        self[key] = value
        return value


def _stem(token: str) -> str:
    if token[0].isdigit() or token[0] == "{":
        return token
    return _STEMMER.stemWord(token)


stem: Callable[[str], str] = Memo(_stem, 100_000).__getitem__  # the stem of a token (memoised)


_KIND_OF_KEEP = frozenset({"what", "which", "that", "this", "any", "some", "a", "the", "same", "other", "every", "no"})


class Vocabulary:
    """Known words, and a fuzzy corrector from unknown words to domain words.

    A token that is a common English word or a domain word is left alone
    ("bill" must not become "pill"); anything else of four letters or more is
    corrected to the closest domain word of similar length, if one is close.
    """

    def __init__(self, domain_words: Iterable[str], english_words: Iterable[str],
                 shorthand: Mapping[str, str]) -> None:
        self.domain = frozenset(w for w in domain_words if w and not w[0].isdigit())
        self.known = self.domain | frozenset(english_words)
        # an inflection of a domain word is spelt right too ("swabbed" is not "stabbed")
        self.known_stems = frozenset(stem(w) for w in self.domain)
        self.shorthand = dict(shorthand)
        self._shorthand_words = frozenset(self.shorthand)
        self._by_length: dict[int, list[str]] = {}
        # sorted: a frozenset's order follows the hash seed, and extractOne breaks ties by
        # order, so "shoot" was corrected one way or another from run to run
        for word in sorted(self.domain):
            if len(word) >= 4:
                self._by_length.setdefault(len(word), []).append(word)
        self.correct: Callable[[str], str] = Memo(self._correct, 100_000).__getitem__

    def _correct(self, token: str) -> str:
        if len(token) >= 5 and token.endswith("in") and token + "g" in self.known and stem(token + "g") in self.known_stems:
            return token + "g"  # texting drops the g: "hurtin", "thinkin", "eatin"
        if token in self.known or len(token) < 4 or token[0].isdigit() or stem(token) in self.known_stems:
            return token
        candidates: list[str] = []
        for length in range(len(token) - 2, len(token) + 3):
            candidates.extend(self._by_length.get(length, ()))
        cutoff = 80 if len(token) >= 6 else 84
        best = process.extractOne(token, candidates, scorer=fuzz.ratio, score_cutoff=cutoff)
        return best[0] if best else token

    def expand(self, tokens: Iterable[str]) -> list[str]:
        """Expand texting shorthand ("plz" -> "please", "rx" -> "prescription") and drop
        the hedges "kind of" / "sort of" ("lips are kinda gray" is "lips are gray")."""
        given = list(tokens)
        out = given
        if not self._shorthand_words.isdisjoint(given):  # most clauses have no shorthand: one set test
            out = []
            for tok in given:
                repl = self.shorthand.get(tok)
                if repl is None:
                    out.append(tok)
                else:
                    out.extend(repl.split())
        if "of" in out:
            i = 1
            while i < len(out):
                if out[i] == "of" and out[i - 1] in ("kind", "sort") and (i < 2 or out[i - 2] not in _KIND_OF_KEEP):
                    del out[i - 1:i + 1]
                    i -= 1
                i += 1
        return out


@dataclass(frozen=True)
class Analysed:
    """A message after the pipeline: per clause, the corrected words and their stems."""

    text: str
    folded: str
    clauses: tuple[tuple[str, ...], ...]  # corrected words per clause
    stems: tuple[tuple[str, ...], ...]  # stems per clause
    sentence_of: tuple[int, ...]  # the sentence each clause belongs to
    # the folded text of every clause with a token, kept for triage's number readings
    # (it numbers clauses like this unless a clause lost all its words to "kind of")
    clause_texts: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def all_stems(self) -> tuple[str, ...]:
        return tuple(s for clause in self.stems for s in clause)

    @property
    def all_words(self) -> tuple[str, ...]:
        return tuple(w for clause in self.clauses for w in clause)


def analyse(text: str, vocab: Vocabulary) -> Analysed:
    folded = fold(text)
    clauses: list[tuple[str, ...]] = []
    stems: list[tuple[str, ...]] = []
    sentence_of: list[int] = []
    texts: list[str] = []
    correct = vocab.correct
    for s, sentence in enumerate(split_sentences(folded)):
        for clause in split_clauses(sentence):
            tokens = raw_tokens(clause)
            if not tokens:
                continue
            texts.append(clause)
            words = tuple(map(correct, vocab.expand(tokens)))  # map: no generator frame per word
            if not words:
                continue
            clauses.append(words)
            stems.append(tuple(map(stem, words)))
            sentence_of.append(s)
    return Analysed(text=text, folded=folded, clauses=tuple(clauses), stems=tuple(stems),
                    sentence_of=tuple(sentence_of), clause_texts=tuple(texts))


def phrase_stems(phrase: str, shorthand: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Stems of a lexicon phrase (no spelling correction: lexicon text is trusted)."""
    toks = raw_tokens(fold(phrase))
    if shorthand:
        toks = [w for t in toks for w in shorthand.get(t, t).split()]
    return tuple(stem(t) for t in toks)
