"""Dates and times in patient words: keep the words, add a date where one is clear.

"Thursday morning" -> ("thursday morning", the coming Thursday);
"it was done on the 18th" -> ("on the 18th", the most recent 18th);
"sometime this month" -> ("sometime this month", no single date).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Direction = Literal["future", "past"]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
            "couple": 2, "a couple": 2, "few": 3, "a few": 3, "several": 3}
_N = r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a couple(?: of)?|couple(?: of)?|a few|few|several)"
_DAYPART = r"(?:\s+(?:in\s+the\s+)?(?:morning|afternoon|evening|night|am|pm))?"
_MONTH_RE = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_ORD = r"(\d{1,2})\s?(?:st|nd|rd|th)?"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rx)) for name, rx in (
        ("iso", r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"),
        ("numeric", r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b"),
        ("month_day", rf"\b{_MONTH_RE}\.?\s+{_ORD}\b(?:,?\s*(\d{{4}}))?"),
        ("day_of_month", rf"\b(?:the\s+)?(\d{{1,2}})\s?(?:st|nd|rd|th)\s+of\s+{_MONTH_RE}\b"),
        ("ordinal", r"\b(?:on\s+)?the\s+(\d{1,2})\s?(?:st|nd|rd|th)\b"),
        ("today", rf"\b(today|tonight|this\s+(?:morning|afternoon|evening))\b"),
        ("tomorrow", rf"\b(?:the\s+day\s+after\s+)?tomorrow{_DAYPART}\b"),
        ("yesterday", rf"\b(?:the\s+day\s+before\s+)?yesterday{_DAYPART}\b|\blast\s+night\b"),
        ("weekday", rf"\b(?:(next|this|last|on|coming|this\s+coming|early|late)\s+)?(mon|tues|tue|wednes|wed|thurs|thu|fri|satur|sat|sun)(?:day)?s?{_DAYPART}\b"),
        # "a month or so back", "2 weeks or so ago", "a week and a half ago"
        ("ago", rf"\b{_N}\s+(day|days|week|weeks|month|months|year|years)\s+(?:or\s+so\s+|or\s+two\s+|and\s+a\s+half\s+)?(?:ago|back)\b"),
        ("in_n", rf"\bin\s+{_N}\s+(day|days|week|weeks|month|months)\b"),
        ("for_n", rf"\b(?:for|over|past|last|about|almost|nearly)\s+(?:the\s+)?(?:past\s+|last\s+)?{_N}\s+(hours?|days?|weeks?|months?|years?)\b"),
        ("since", r"\bsince\s+(?:last\s+|early\s+|late\s+)?(?:the\s+)?(?:\d+|yesterday|mon|tues|wednes|thurs|fri|satur|sun|week|weekend|month|year|morning|afternoon|evening|night|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|spring|summer|fall|winter|christmas|thanksgiving)[a-z]*(?:\s+(?:morning|afternoon|evening|night|weekend))?\b"),
        ("relative", r"\b(?:(?:early|late|sometime|some\s+time|anytime|any\s+time)\s+)?(?:next|this|last|the\s+past|the\s+last|end\s+of\s+(?:the|this|next))\s+(week|weekend|month|year)\b"),
        ("soon", r"\b(asap|as\s+soon\s+as\s+possible|soonest|first\s+available|earliest|right\s+away|any\s*time|whenever|no\s+rush|not\s+urgent|sometime\s+soon)\b"),
        # "Good morning. My PCM wanted..." is a greeting, not a wanted time
        ("daypart", r"\b(?<!good\s)(mornings?|afternoons?|evenings?|after\s+work|before\s+work|lunch\s*time|over\s+lunch|weekends?|weekdays?)\b"),
        # a work pattern that rules times in or out: "whenever, I work nights" (told in an
        # answer about when; an opening's "I work nights" is no time asked for)
        ("shift", r"\b(?:work(?:s|ing)?\s+(?:nights|days|evenings|swings|mids|overnights?|the\s+night\s+shift)|(?:night|day|swing|mid|graveyard)\s+shifts?|on\s+(?:nights|swings|mids))\b"),
        # "after 6" is a clock time, "after 6 weeks" is not
        ("clock", r"\b(\d{1,2})(?::(\d{2}))?\s?(am|pm|a\.m\.|p\.m\.)\b|\bnoon\b"
                  r"|\bafter\s+\d{1,2}\b(?!\s*(?:days?|weeks?|months?|years?|hours?|hrs?|mins?|minutes?|visits?))"),
        ("started", r"\b(started|began|begun|came\s+on|kicked\s+in)\b"),
    )
)


@dataclass(frozen=True)
class TimeFound:
    words: str  # the patient's words that say when
    when: date | None  # a single date, where the words give one
    kinds: tuple[str, ...] = ()  # the patterns that matched, in order of the words

    @property
    def time_of_day_only(self) -> bool:
        """Only a time of day ("at 3am", "every morning"): no day, no onset."""
        return bool(self.kinds) and all(k in ("daypart", "clock") for k in self.kinds)


def _wrong_way(kind: str, m: re.Match[str], direction: Direction) -> bool:
    """Words that only point the other way in time: "two weeks ago" is no wanted
    visit time, "tomorrow" no test date."""
    said = m.group(0)
    if direction == "future":
        if kind in ("ago", "yesterday", "since", "started"):
            return True
        if kind == "for_n":
            return bool(re.match(r"(?:for|past|last)\b", said))  # "about 2 weeks" may be either way
        if kind in ("weekday", "relative"):
            return bool(re.search(r"\b(?:last|past)\b", said))
        return False
    if kind in ("tomorrow", "in_n", "soon"):
        return True
    if kind in ("weekday", "relative"):
        return bool(re.search(r"\b(?:next|coming)\b", said))
    return False


def _count(token: str) -> int:
    token = re.sub(r"\s+of$", "", token.strip())
    return _NUMBERS.get(token, 0) if not token.isdigit() else int(token)


def _weekday(prefix: str, day: str) -> int:
    for i, name in enumerate(_WEEKDAYS):
        if name.startswith(day[:3]):
            return i
    raise ValueError(day)


def _month(token: str) -> int:
    return next(i for i, name in enumerate(_MONTHS, 1) if name.startswith(token[:3]))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _resolve(kind: str, m: re.Match[str], today: date, direction: Direction) -> date | None:
    sign = 1 if direction == "future" else -1
    if kind == "iso":
        return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if kind == "numeric":
        month, day = int(m.group(1)), int(m.group(2))
        year = int(m.group(3)) if m.group(3) else today.year
        if year < 100:
            year += 2000
        found = _safe_date(year, month, day)
        if found and not m.group(3):
            found = _year_for(found, today, direction)
        return found
    if kind in ("month_day", "day_of_month"):
        if kind == "month_day":
            month, day, year = _month(m.group(1)), int(m.group(2)), m.group(3)
        else:
            day, month, year = int(m.group(1)), _month(m.group(2)), None
        found = _safe_date(int(year) if year else today.year, month, day)
        return _year_for(found, today, direction) if found and not year else found
    if kind == "ordinal":
        day = int(m.group(1))
        found = _safe_date(today.year, today.month, day)
        if found is None:
            return None
        if direction == "future" and found < today:
            month = today.month % 12 + 1
            found = _safe_date(today.year + (today.month == 12), month, day)
        elif direction == "past" and found > today:
            month = (today.month - 2) % 12 + 1
            found = _safe_date(today.year - (today.month == 1), month, day)
        return found
    if kind == "today":
        return today
    if kind == "tomorrow":
        return today + timedelta(days=2 if m.group(0).startswith("the day after") else 1)
    if kind == "yesterday":
        return today - timedelta(days=2 if m.group(0).startswith("the day before") else 1)
    if kind == "weekday":
        target = _weekday(m.group(1) or "", m.group(2))
        prefix = (m.group(1) or "").strip()
        if prefix == "last":
            sign = -1
        delta = (target - today.weekday()) * sign % 7 or 7
        return today + timedelta(days=sign * delta)
    if kind == "ago":
        n, unit = _count(m.group(1)), m.group(2)
        days = {"d": 1, "w": 7, "m": 30, "y": 365}[unit[0]] * n
        return today - timedelta(days=days) if unit[0] in "dw" else None
    if kind == "in_n":
        n, unit = _count(m.group(1)), m.group(2)
        return today + timedelta(days=n * (7 if unit.startswith("w") else 1)) if unit[0] in "dw" else None
    return None


def _year_for(found: date, today: date, direction: Direction) -> date:
    if direction == "future" and found < today - timedelta(days=7):
        return _safe_date(found.year + 1, found.month, found.day) or found
    if direction == "past" and found > today:
        return _safe_date(found.year - 1, found.month, found.day) or found
    return found


_GREETING_RE = re.compile(
    r"^\s*(?:good )?(?:morning|afternoon|evening)(?:[.!]+(?=\s)|(?= (?:the|hi|hello|sorry|doc|team|all|everyone|folks|nurse|dr|there)\b))"
)


def find_time(folded: str, today: date, direction: Direction = "future") -> TimeFound | None:
    """The time words in folded text, and a date if exactly one is given."""
    # "Morning. The wife and I are running on 3 hours of sleep": a greeting, not a time
    folded = _GREETING_RE.sub(lambda m: " " * len(m.group(0)), folded, count=1)
    spans: list[tuple[int, int]] = []
    kinds: dict[int, str] = {}
    dates: list[date] = []
    for kind, rx in _PATTERNS:
        for m in rx.finditer(folded):
            if any(s <= m.start() < e or s < m.end() <= e for s, e in spans):
                continue
            if kind == "started" and not spans:
                continue  # "started" only extends a time already found
            if _wrong_way(kind, m, direction):
                continue
            spans.append((m.start(), m.end()))
            kinds[m.start()] = kind
            when = _resolve(kind, m, today, direction)
            if when is not None:
                dates.append(when)
    if not spans:
        return None
    spans.sort()
    words = " ".join(folded[s:e] for s, e in spans)
    distinct = sorted(set(dates))
    return TimeFound(words=" ".join(words.split()), when=distinct[0] if len(distinct) == 1 else None,
                     kinds=tuple(kinds[s] for s, _ in spans))
