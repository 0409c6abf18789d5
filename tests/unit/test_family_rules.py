"""The pure parts of family links: finding a doctor by a misspelled last name, the age rule,
and the clinic file's providers and family settings."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import yaml

from micare_bot import proxy
from micare_bot.clinic_settings import ClinicFileError, parse_clinic
from micare_bot.config import DEMO_CLINIC_FILE
from micare_bot.provider_search import Candidate, search

DIRECTORY = [
    Candidate("n", "Dr. Emi Nakamura", "Nakamura"),
    Candidate("w", "Dr. Sam Whitfield", "Whitfield"),
    Candidate("t", "Dr. Priya Natarajan", "Natarajan"),
    Candidate("h", "Lt Col Robert Nash", "Nash"),
]


class TestProviderSearch:
    @pytest.mark.parametrize("typed", ["Nakamura", "nakamora", "Nakumura", "nakamuar", "nakam", "Dr. Nakamura",
                                       "naka mura", "NAKAMURA", "emi"])
    def test_misspelled_and_partial_names_find_nakamura_first(self, typed: str) -> None:
        """What parents type finds Dr. Nakamura, and she comes first."""
        assert search(typed, DIRECTORY)[0].id == "n"

    def test_a_close_but_wrong_name_is_not_offered(self) -> None:
        """'nakamora' does not bring up Natarajan or Nash."""
        assert [m.id for m in search("nakamora", DIRECTORY)] == ["n"]

    @pytest.mark.parametrize("typed", ["", "n", "Dr.", "  ", "zzzz", "smith"])
    def test_too_short_or_unknown_finds_nothing(self, typed: str) -> None:
        """Under two letters, titles only, or nobody like it: an empty list."""
        assert search(typed, DIRECTORY) == []


class TestAgeRule:
    def test_access_ends_on_the_birthday_at_the_limit(self) -> None:
        """17 the day before, 18 on the day: under the limit, then not."""
        dob = date(2008, 11, 20)
        assert proxy.under_limit(dob, date(2026, 11, 19), 18)
        assert not proxy.under_limit(dob, date(2026, 11, 20), 18)

    def test_unknown_birth_date_keeps_access(self) -> None:
        """Older in-person enrollments without a date of birth keep access."""
        assert proxy.under_limit(None, date(2026, 11, 20), 18)

    def test_the_clinics_calendar_date_counts(self) -> None:
        """05:59 UTC on Nov 20 is still Nov 19 in Chicago."""
        clinic = parse_clinic(yaml.safe_load(DEMO_CLINIC_FILE.read_text()))
        assert proxy.local_today(datetime(2026, 11, 20, 5, 59, tzinfo=timezone.utc), clinic) == date(2026, 11, 19)
        assert proxy.local_today(datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc), clinic) == date(2026, 11, 20)


def demo() -> dict:
    return yaml.safe_load(DEMO_CLINIC_FILE.read_text(encoding="utf-8"))


class TestClinicFile:
    def test_demo_has_providers_and_family_settings(self) -> None:
        """The demo clinic lists Dr. Nakamura on the Blue Team, 3 business days, age 18."""
        clinic = parse_clinic(demo())
        assert "Nakamura" in [p.last_name for p in clinic.teams[0].providers]
        assert str(clinic.family.link_acceptance) == "3 business days"
        assert clinic.family.proxy_age_limit == 18

    def test_defaults_without_a_family_section(self) -> None:
        """No 'family:' section: 3 business days and 18."""
        data = demo()
        del data["family"]
        clinic = parse_clinic(data)
        assert (str(clinic.family.link_acceptance), clinic.family.proxy_age_limit) == ("3 business days", 18)

    @pytest.mark.parametrize("family, message", [
        ({"link_acceptance": "soon"}, "link_acceptance"),
        ({"proxy_age_limit": 0}, "proxy_age_limit"),
        ({"proxy_age_limit": "18"}, "proxy_age_limit"),
        ({"proxy_limit": 18}, "unknown settings"),
    ])
    def test_bad_family_settings_stop_start_up(self, family: dict, message: str) -> None:
        """A bad acceptance time or age limit names the setting."""
        data = demo()
        data["family"] = family
        with pytest.raises(ClinicFileError, match=message):
            parse_clinic(data)

    @pytest.mark.parametrize("provider, message", [
        ({"slug": "x", "name": "Dr. Ann Lee"}, "last_name"),
        ({"slug": "x", "name": "Dr. Ann Lee", "last_name": "Smith"}, "part of 'name'"),
        ({"slug": "Bad Slug", "name": "Dr. Ann Lee", "last_name": "Lee"}, "slug"),
        ({"slug": "nakamura", "name": "Dr. Ann Lee", "last_name": "Lee"}, "unique"),
    ])
    def test_bad_providers_stop_start_up(self, provider: dict, message: str) -> None:
        """A provider without a usable last name or slug is refused with the reason."""
        data = demo()
        data["care_teams"][0]["providers"].append(provider)
        with pytest.raises(ClinicFileError, match=message):
            parse_clinic(data)
