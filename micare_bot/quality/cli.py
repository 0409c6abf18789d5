"""``micare-bot report`` (the dashboard's figures as text, JSON or CSV files) and ``seed-demo-week``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..clinic_settings import ClinicSettings, load_clinic_file
from ..config import Settings


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from None


def register(subparsers: Any) -> None:
    from ..service_cli import _common, _run

    p = subparsers.add_parser("report", help="intake quality figures for a clinic (text, --json or --csv-dir)")
    p.add_argument("--clinic", required=True, help="clinic slug")
    p.add_argument("--since", required=True, type=_date, help="first day, YYYY-MM-DD (clinic time)")
    p.add_argument("--until", type=_date, help="last day, YYYY-MM-DD (default: today)")
    p.add_argument("--team", help="care team slug (default: all teams)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--csv-dir", type=Path, help="also write one CSV file per table into this directory")
    _common(p)
    p.set_defaults(func=_run(cmd_report))

    p = subparsers.add_parser("seed-demo-week", help="a scripted fortnight of demo traffic (after seed-demo)")
    _common(p)
    p.set_defaults(func=_run(cmd_seed_demo_week))


def _clinic_for(settings: Settings, slug: str) -> ClinicSettings:
    from ..config import ConfigError

    clinic = load_clinic_file(settings.clinic_file)
    if clinic.slug != slug:
        raise ConfigError(f"the clinic file {settings.clinic_file} is for clinic {clinic.slug!r}, not {slug!r} "
                          "(pass --clinic-file or MICARE_CLINIC_FILE)")
    return clinic


async def cmd_report(args: argparse.Namespace) -> int:
    from ..service_cli import _settings, utcnow
    from ..store import db
    from . import export, metrics, queries

    settings = _settings(args)
    clinic = _clinic_for(settings, args.clinic)
    now = utcnow()
    tz = clinic.calendar.timezone
    until = args.until or now.astimezone(tz).date()
    if until < args.since:
        print("micare-bot: --until is before --since", file=sys.stderr)
        return 2
    engine = db.make_engine(settings.database_url, pool_size=1)
    try:
        if await db.current_revision(engine) != db.head_revision():
            print("micare-bot: the database schema is not current: run `micare-bot db upgrade` first",
                  file=sys.stderr)
            return 2
        clinic_id = await queries.clinic_id_for(engine, args.clinic)
        if clinic_id is None:
            print(f"micare-bot: no clinic {args.clinic!r} in the database", file=sys.stderr)
            return 2
        try:
            scope = await queries.scope_for(engine, clinic_id, args.team, metrics.Period(args.since, until, tz))
        except queries.QualityError as exc:
            print(f"micare-bot: {exc.message}", file=sys.stderr)
            return 2
        report = await queries.compute_report(engine, scope, clinic, now=now,
                                              idle=timedelta(seconds=settings.session_idle_seconds))
    finally:
        await engine.dispose()
    if args.csv_dir is not None:
        args.csv_dir.mkdir(parents=True, exist_ok=True)
        for name, table in report.tables.items():
            (args.csv_dir / f"{name}.csv").write_text(export.to_csv(table), encoding="utf-8", newline="")
    if args.json:
        body = report.to_dict()
        body["clinic"] = clinic.slug
        body["care_team"] = args.team or None
        print(json.dumps(body, indent=2))
    else:
        print(metrics.format_text(report, clinic=clinic.slug, team=scope.team_name), end="")
    return 0


async def cmd_seed_demo_week(args: argparse.Namespace) -> int:
    from ..service_cli import _open, _settings, utcnow
    from ..store import db
    from ..store.clinics import sync_clinic
    from .demo_week import SeedError, seed_week
    from .staff_actions import script_staff_action

    settings = _settings(args)
    clinic = load_clinic_file(settings.clinic_file)
    engine, keyring = await _open(settings)
    now = utcnow()
    try:
        async with db.write(engine) as conn:
            row = await sync_clinic(conn, clinic, now)
        try:
            result = await seed_week(engine, keyring, settings, clinic, row.id, now=now,
                                     staff_action=script_staff_action(engine, keyring, settings, clinic, row.id))
        except SeedError as exc:
            print(f"micare-bot: {exc}", file=sys.stderr)
            return 1
    finally:
        await engine.dispose()
    if result.skipped:
        print(f"Demo traffic already present since {result.first_day}; nothing added.")
    else:
        print(f"Demo traffic since {result.first_day}: {result.conversations} conversations, {result.filed} filed, "
              f"{result.staff_actions} care-team actions.")
        for note in result.notes:
            print(f"  note: {note}")
    return 0
