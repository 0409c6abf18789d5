"""Due times in business time (pure)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from micare_bot.businesstime import BusinessCalendar, BusinessTimeError, ResponseTarget
from micare_bot.clinic_settings import ClinicFileError, load_clinic_file, parse_clinic
from micare_bot.config import DEMO_CLINIC_FILE

CHI = ZoneInfo("America/Chicago")
WEEKDAYS = {d: "08:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}


def cal(**kw: object) -> BusinessCalendar:
    return BusinessCalendar.build("America/Chicago", WEEKDAYS, **kw)  # type: ignore[arg-type]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI)


class TestResponseTarget:
    @pytest.mark.parametrize(
        "text,amount,unit",
        [("1 business day", 1, "business_days"), ("3 Business Days", 3, "business_days"),
         ("72 hours", 72, "hours"), ("8 business hours", 8, "business_hours"), ("2 days", 2, "days")],
    )
    def test_parses(self, text: str, amount: int, unit: str) -> None:
        """Targets in plain words parse to an amount and a unit."""
        assert ResponseTarget.parse(text) == ResponseTarget(amount, unit)  # type: ignore[arg-type]

    @pytest.mark.parametrize("text", ["soon", "0 hours", "1 fortnight", "-1 day", ""])
    def test_rejects(self, text: str) -> None:
        """Anything else is refused at start-up."""
        with pytest.raises(BusinessTimeError):
            ResponseTarget.parse(text)


class TestDue:
    def test_business_day_during_hours_is_close_of_next_day(self) -> None:
        """Filed Monday 10:00: due Tuesday at closing."""
        due = cal().due(local(2026, 11, 16, 10, 0), ResponseTarget(1, "business_days"))
        assert due.astimezone(CHI) == local(2026, 11, 17, 17, 0)

    def test_friday_evening_skips_the_weekend(self) -> None:
        """Filed Friday after closing: received Monday, due Tuesday at closing."""
        due = cal().due(local(2026, 11, 20, 18, 30), ResponseTarget(1, "business_days"))
        assert due.astimezone(CHI) == local(2026, 11, 24, 17, 0)

    def test_federal_holiday_is_skipped(self) -> None:
        """Filed the day before Thanksgiving: due the Friday after it."""
        due = cal().due(local(2026, 11, 25, 9, 0), ResponseTarget(1, "business_days"))
        assert due.astimezone(CHI) == local(2026, 11, 27, 17, 0)

    def test_observed_holiday_is_skipped(self) -> None:
        """July 4, 2026 is a Saturday: Friday July 3 is the observed holiday."""
        c = cal()
        assert not c.is_business_day(date(2026, 7, 3))
        due = c.due(local(2026, 7, 2, 9, 0), ResponseTarget(1, "business_days"))
        assert due.astimezone(CHI) == local(2026, 7, 6, 17, 0)

    def test_clinic_closure_is_skipped(self) -> None:
        """An extra closure date counts like a holiday."""
        c = cal(closures=(date(2026, 11, 17),))
        due = c.due(local(2026, 11, 16, 10, 0), ResponseTarget(1, "business_days"))
        assert due.astimezone(CHI) == local(2026, 11, 18, 17, 0)

    def test_without_federal_holidays(self) -> None:
        """A clinic may opt out of federal holidays."""
        assert cal(federal_holidays=False).is_business_day(date(2026, 11, 26))

    def test_wall_clock_hours_ignore_closures(self) -> None:
        """'72 hours' is wall-clock time, weekends included."""
        start = local(2026, 11, 20, 18, 0)
        due = cal().due(start, ResponseTarget(72, "hours"))
        assert due.astimezone(CHI) == local(2026, 11, 23, 18, 0)

    def test_hours_across_daylight_saving_change(self) -> None:
        """24 hours across the fall-back change is 23 wall-clock hours later by local time."""
        due = cal().due(local(2026, 10, 31, 12, 0), ResponseTarget(24, "hours"))
        assert due.astimezone(CHI) == local(2026, 11, 1, 11, 0)

    def test_business_hours_carry_over_night(self) -> None:
        """8 business hours from Monday 15:00: Tuesday 14:00 (2 h Monday, 6 h Tuesday)."""
        due = cal().due(local(2026, 11, 16, 15, 0), ResponseTarget(8, "business_hours"))
        assert due.astimezone(CHI) == local(2026, 11, 17, 14, 0)

    def test_business_hours_from_a_weekend_start_at_opening(self) -> None:
        """Filed Sunday: the clock starts Monday at opening."""
        due = cal().due(local(2026, 11, 15, 12, 0), ResponseTarget(2, "business_hours"))
        assert due.astimezone(CHI) == local(2026, 11, 16, 10, 0)

    def test_result_is_utc(self) -> None:
        """Due times are aware UTC datetimes for storage."""
        due = cal().due(datetime(2026, 11, 16, 16, 0, tzinfo=timezone.utc), ResponseTarget(1, "business_days"))
        assert due.tzinfo == timezone.utc

    def test_describe_in_clinic_time(self) -> None:
        """The patient reads the due time in the clinic's zone."""
        text = cal().describe(local(2026, 11, 24, 17, 0))
        assert text == "Tuesday, November 24 at 5:00 PM CST"


class TestClinicFile:
    def test_demo_clinic_loads(self) -> None:
        """The packaged demo clinic has a zone, a target, one team and two staff."""
        clinic = load_clinic_file(DEMO_CLINIC_FILE)
        assert clinic.timezone_name == "America/Chicago"
        assert len(clinic.teams) == 1 and len(clinic.teams[0].staff) == 2
        assert clinic.context.appointment_line

    @pytest.mark.parametrize(
        "patch",
        [{"timezone": "Mars/Olympus"}, {"response_target": "whenever"}, {"hours": {"mon": "17:00-08:00"}},
         {"care_teams": []}, {"numbers": {"pager": "1"}}, {"hours": {"xyz": "08:00-09:00"}}],
        ids=["zone", "target", "hours", "teams", "numbers", "day"],
    )
    def test_bad_clinic_file_fails(self, patch: dict[str, object]) -> None:
        """A bad setting fails loading with a ClinicFileError."""
        import yaml

        data = yaml.safe_load(DEMO_CLINIC_FILE.read_text())
        data.update(patch)
        with pytest.raises(ClinicFileError):
            parse_clinic(data)
