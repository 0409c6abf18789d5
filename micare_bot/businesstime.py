"""Due times in a clinic's business time: opening hours, time zone, holidays.

A response target is one of:

* ``N business days`` — the request is *received* on the first business day on
  which the clinic is open at or after filing (filed at 15:00 on a Monday: that
  Monday; filed on Saturday or after closing: the next open day); it is due at
  closing time N business days after that day. A clinic manager reads "1
  business day" as "by the end of the next working day", and so does a patient.
* ``N business hours`` — N hours of opening time, counted from filing (or from
  the next opening when filed while closed).
* ``N hours`` / ``N days`` — wall-clock time, nights, weekends and holidays
  included ("72 hours").

Holidays: US federal holidays (with their observed days) from the ``holidays``
package, plus the clinic's own closure dates. Everything here is pure: ``now``
is an argument, no clock is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

Unit = Literal["business_days", "business_hours", "hours", "days"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TARGET = re.compile(r"^\s*(\d{1,3})\s+(business\s+)?(day|days|hour|hours)\s*$", re.IGNORECASE)
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_MAX_SCAN_DAYS = 400


class BusinessTimeError(ValueError):
    """A clinic's hours, time zone or response target cannot be used."""


@dataclass(frozen=True)
class ResponseTarget:
    amount: int
    unit: Unit

    @classmethod
    def parse(cls, text: str) -> "ResponseTarget":
        match = _TARGET.match(text)
        if not match or int(match.group(1)) < 1:
            raise BusinessTimeError(
                f"response target {text!r}: expected e.g. '1 business day', '8 business hours', '72 hours'"
            )
        amount = int(match.group(1))
        business = bool(match.group(2))
        unit_word = match.group(3).lower()
        if unit_word.startswith("day"):
            return cls(amount, "business_days" if business else "days")
        return cls(amount, "business_hours" if business else "hours")

    def __str__(self) -> str:
        word = {"business_days": "business day", "business_hours": "business hour", "hours": "hour", "days": "day"}[
            self.unit
        ]
        return f"{self.amount} {word}{'' if self.amount == 1 else 's'}"


def parse_hours(spec: Mapping[str, str]) -> dict[int, tuple[time, time]]:
    """``{"mon": "07:30-16:30", "sat": "closed"}`` → weekday → (open, close)."""
    hours: dict[int, tuple[time, time]] = {}
    for key, value in spec.items():
        day = str(key).strip().lower()[:3]
        if day not in WEEKDAYS:
            raise BusinessTimeError(f"opening hours: unknown day {key!r}")
        if str(value).strip().lower() == "closed":
            continue
        match = _HOURS.match(str(value))
        if not match:
            raise BusinessTimeError(f"opening hours for {key}: expected 'HH:MM-HH:MM' or 'closed'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            opens, closes = time(h1, m1), time(h2, m2)
        except ValueError:
            raise BusinessTimeError(f"opening hours for {key}: {value!r} is not a time of day") from None
        if closes <= opens:
            raise BusinessTimeError(f"opening hours for {key}: closing must come after opening")
        hours[WEEKDAYS.index(day)] = (opens, closes)
    if not hours:
        raise BusinessTimeError("opening hours: the clinic is never open")
    return hours


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: ZoneInfo
    hours: Mapping[int, tuple[time, time]]
    federal_holidays: bool = True
    closures: frozenset[date] = frozenset()
    _holidays: holidays_lib.HolidayBase = field(
        default_factory=lambda: holidays_lib.country_holidays("US"), repr=False, compare=False
    )

    @classmethod
    def build(
        cls,
        tz: str,
        hours: Mapping[str, str],
        *,
        federal_holidays: bool = True,
        closures: tuple[date, ...] = (),
    ) -> "BusinessCalendar":
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise BusinessTimeError(f"unknown time zone {tz!r}") from None
        return cls(zone, parse_hours(hours), federal_holidays, frozenset(closures))

    def holiday_name(self, day: date) -> str | None:
        if day in self.closures:
            return "clinic closure"
        if self.federal_holidays:
            name = self._holidays.get(day)
            return str(name) if name else None
        return None

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.hours and self.holiday_name(day) is None

    def open_interval(self, day: date) -> tuple[datetime, datetime] | None:
        """Opening and closing on ``day`` as aware local datetimes, or None if closed."""
        if not self.is_business_day(day):
            return None
        opens, closes = self.hours[day.weekday()]
        return (
            datetime.combine(day, opens, tzinfo=self.timezone),
            datetime.combine(day, closes, tzinfo=self.timezone),
        )

    def next_business_day(self, day: date) -> date:
        for offset in range(1, _MAX_SCAN_DAYS):
            candidate = day + timedelta(days=offset)
            if self.is_business_day(candidate):
                return candidate
        raise BusinessTimeError("no business day within a year")

    def received_day(self, filed_at: datetime) -> date:
        """The business day on which a request filed at ``filed_at`` is first seen open."""
        local = filed_at.astimezone(self.timezone)
        interval = self.open_interval(local.date())
        if interval is not None and local < interval[1]:
            return local.date()
        return self.next_business_day(local.date())

    def due(self, filed_at: datetime, target: ResponseTarget) -> datetime:
        """When a reply is due, as an aware UTC datetime."""
        if filed_at.tzinfo is None:
            raise ValueError("filed_at must be timezone-aware")
        if target.unit == "hours":
            # aware arithmetic within one ZoneInfo is wall-clock: count real hours in UTC
            return filed_at.astimezone(timezone.utc) + timedelta(hours=target.amount)
        if target.unit == "days":
            local = filed_at.astimezone(self.timezone)
            wall = local.replace(tzinfo=None) + timedelta(days=target.amount)
            return wall.replace(tzinfo=self.timezone).astimezone(timezone.utc)
        if target.unit == "business_days":
            day = self.received_day(filed_at)
            for _ in range(target.amount):
                day = self.next_business_day(day)
            interval = self.open_interval(day)
            assert interval is not None
            return interval[1].astimezone(timezone.utc)
        return self._add_business_hours(filed_at, timedelta(hours=target.amount))

    def _add_business_hours(self, start: datetime, remaining: timedelta) -> datetime:
        cursor = start.astimezone(timezone.utc)
        day = start.astimezone(self.timezone).date()
        for _ in range(_MAX_SCAN_DAYS * 2):
            interval = self.open_interval(day)
            if interval is not None:
                opens, closes = (t.astimezone(timezone.utc) for t in interval)
                begin = max(cursor, opens)
                if begin < closes:
                    available = closes - begin
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            day += timedelta(days=1)
        raise BusinessTimeError("target too far in business time")

    def describe(self, moment: datetime) -> str:
        """'Tuesday, November 24 at 4:30 PM CST' in the clinic's time zone."""
        local = moment.astimezone(self.timezone)
        hour = local.hour % 12 or 12
        half = "AM" if local.hour < 12 else "PM"
        return f"{local:%A, %B} {local.day} at {hour}:{local:%M} {half} {local.tzname()}"
