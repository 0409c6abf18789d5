"""Per-clinic settings (SPEC §4) loaded from a YAML file and checked at start-up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from .businesstime import BusinessCalendar, BusinessTimeError, ResponseTarget
from .models import ClinicContext
from .yamlfile import load_yaml


class ClinicFileError(ValueError):
    """The clinic settings file is missing a setting or has a bad one."""


@dataclass(frozen=True)
class StaffSpec:
    name: str
    title: str
    email: str


@dataclass(frozen=True)
class ProviderSpec:
    """A clinician a parent may pick as a child's Primary Care Manager (public directory)."""

    slug: str
    name: str  # as patients see it: "Dr. Emi Nakamura"
    last_name: str  # what patients search by
    title: str


@dataclass(frozen=True)
class TeamSpec:
    slug: str
    name: str
    notify_email: str | None
    staff: tuple[StaffSpec, ...]
    providers: tuple[ProviderSpec, ...] = ()


@dataclass(frozen=True)
class FamilySettings:
    """How the clinic runs proxy links (``family:`` in the settings file)."""

    link_acceptance: ResponseTarget = ResponseTarget(3, "business_days")  # what parents are told
    proxy_age_limit: int = 18  # a guardian's proxy access ends on the child's birthday at this age


@dataclass(frozen=True)
class ClinicSettings:
    slug: str
    name: str
    calendar: BusinessCalendar
    target: ResponseTarget
    context: ClinicContext
    teams: tuple[TeamSpec, ...]
    raw: dict[str, Any]
    family: FamilySettings = FamilySettings()

    @property
    def timezone_name(self) -> str:
        return str(self.calendar.timezone.key)


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ClinicFileError(f"{where}: '{key}' must be a non-empty text")
    return value.strip()


def parse_clinic(data: Any, where: str = "clinic settings") -> ClinicSettings:
    if not isinstance(data, dict):
        raise ClinicFileError(f"{where}: expected a mapping")
    slug = _text(data, "slug", where)
    name = _text(data, "name", where)
    closures_raw = data.get("closures") or []
    if not isinstance(closures_raw, list) or not all(isinstance(d, date) for d in closures_raw):
        raise ClinicFileError(f"{where}: 'closures' must be a list of YYYY-MM-DD dates")
    hours = data.get("hours")
    if not isinstance(hours, dict):
        raise ClinicFileError(f"{where}: 'hours' must map days to 'HH:MM-HH:MM' or 'closed'")
    try:
        calendar = BusinessCalendar.build(
            _text(data, "timezone", where),
            {str(k): str(v) for k, v in hours.items()},
            federal_holidays=bool(data.get("federal_holidays", True)),
            closures=tuple(closures_raw),
        )
        target = ResponseTarget.parse(_text(data, "response_target", where))
    except BusinessTimeError as exc:
        raise ClinicFileError(f"{where}: {exc}") from None
    numbers = data.get("numbers") or {}
    if not isinstance(numbers, dict):
        raise ClinicFileError(f"{where}: 'numbers' must be a mapping")
    unknown = set(numbers) - (set(ClinicContext.__dataclass_fields__) - {"name"})
    if unknown:
        raise ClinicFileError(f"{where}: unknown numbers {sorted(unknown)}")
    context = ClinicContext.from_dict({**numbers, "name": name})
    teams_raw = data.get("care_teams")
    if not isinstance(teams_raw, list) or not teams_raw:
        raise ClinicFileError(f"{where}: 'care_teams' must list at least one team")
    teams = []
    for i, team in enumerate(teams_raw):
        tw = f"{where}: care_teams[{i}]"
        if not isinstance(team, dict):
            raise ClinicFileError(f"{tw}: expected a mapping")
        staff = []
        for j, member in enumerate(team.get("staff") or []):
            sw = f"{tw}.staff[{j}]"
            if not isinstance(member, dict):
                raise ClinicFileError(f"{sw}: expected a mapping")
            staff.append(StaffSpec(_text(member, "name", sw), str(member.get("title") or "Staff"), _text(member, "email", sw)))
        notify = team.get("notify_email")
        teams.append(TeamSpec(_text(team, "slug", tw), _text(team, "name", tw), str(notify) if notify else None,
                              tuple(staff), _providers(team.get("providers"), tw)))
    if len({t.slug for t in teams}) != len(teams):
        raise ClinicFileError(f"{where}: care team slugs must be unique")
    provider_slugs = [p.slug for t in teams for p in t.providers]
    if len(set(provider_slugs)) != len(provider_slugs):
        raise ClinicFileError(f"{where}: provider slugs must be unique across the clinic")
    return ClinicSettings(slug, name, calendar, target, context, tuple(teams), data, _family(data.get("family"), where))


_PROVIDER_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _providers(raw: Any, where: str) -> tuple[ProviderSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ClinicFileError(f"{where}: 'providers' must be a list")
    out = []
    for k, item in enumerate(raw):
        pw = f"{where}.providers[{k}]"
        if not isinstance(item, dict):
            raise ClinicFileError(f"{pw}: expected a mapping")
        slug = _text(item, "slug", pw)
        if not _PROVIDER_SLUG.match(slug):
            raise ClinicFileError(f"{pw}: 'slug' must be lower-case letters, digits and '-'")
        display = _text(item, "name", pw)
        last = _text(item, "last_name", pw)
        if last.casefold() not in display.casefold():
            raise ClinicFileError(f"{pw}: 'last_name' must be part of 'name'")
        out.append(ProviderSpec(slug, display, last, str(item.get("title") or "Primary care manager")))
    return tuple(out)


def _family(raw: Any, where: str) -> FamilySettings:
    if raw is None:
        return FamilySettings()
    fw = f"{where}: family"
    if not isinstance(raw, dict):
        raise ClinicFileError(f"{fw}: expected a mapping")
    unknown = set(raw) - {"link_acceptance", "proxy_age_limit"}
    if unknown:
        raise ClinicFileError(f"{fw}: unknown settings {sorted(unknown)}")
    defaults = FamilySettings()
    acceptance = defaults.link_acceptance
    if "link_acceptance" in raw:
        try:
            acceptance = ResponseTarget.parse(str(raw["link_acceptance"]))
        except BusinessTimeError as exc:
            raise ClinicFileError(f"{fw}.link_acceptance: {exc}") from None
    age = raw.get("proxy_age_limit", defaults.proxy_age_limit)
    if not isinstance(age, int) or isinstance(age, bool) or not 1 <= age <= 26:
        raise ClinicFileError(f"{fw}.proxy_age_limit: a whole number of years from 1 to 26")
    return FamilySettings(acceptance, age)


def load_clinic_file(path: Path) -> ClinicSettings:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClinicFileError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ClinicFileError(f"{path}: not valid YAML ({type(exc).__name__})") from None
    return parse_clinic(data, str(path))
