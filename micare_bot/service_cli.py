"""The service's commands: serve, db upgrade, seed-demo, enroll, rotate-key, audit verify.

``register(subparsers)`` adds them to the ``micare-bot`` parser; each sets
``func`` to a callable taking the parsed arguments and returning an exit code.
Settings come from the environment (and ``MICARE_SETTINGS_FILE``); flags may
override the host, port, database URL and clinic file, never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from .clinic_settings import ClinicFileError
from .config import PACKAGE_DIR, ConfigError, Settings

DEMO_PATIENTS = PACKAGE_DIR / "data" / "demo_patients.json"
DEMO_PASSWORD = "demo-password-2026"  # demo data only; printed by seed-demo

log = logging.getLogger("micare_bot")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    changes: dict[str, Any] = {}
    for attr in ("host", "port", "database_url", "clinic_file"):
        value = getattr(args, attr, None)
        if value is not None:
            changes[attr] = value
    if changes:
        settings = settings.with_(**changes)
        settings.validate()
    return settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: MICARE_DATABASE_URL)")
    parser.add_argument("--clinic-file", type=Path, help="clinic settings YAML (default: MICARE_CLINIC_FILE)")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _run(coro_fn: Callable[[argparse.Namespace], Awaitable[int]]) -> Callable[[argparse.Namespace], int]:
    def runner(args: argparse.Namespace) -> int:
        _logging()
        try:
            return asyncio.run(coro_fn(args))
        except (ConfigError, ClinicFileError) as exc:
            print(f"micare-bot: {exc}", file=sys.stderr)
            return 2

    return runner


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from None


def _dependent(text: str) -> tuple[str, date | None]:
    name, _, born = text.partition(":")
    if not name.strip():
        raise argparse.ArgumentTypeError("expected NAME or NAME:YYYY-MM-DD")
    return name.strip(), _date(born) if born else None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="run the gateway (HTTP API, WebSocket, outbox sender)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    _common(p)
    p.set_defaults(func=cmd_serve)

    p = subparsers.add_parser("db", help="database schema")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="create or migrate the schema (Alembic)")
    _common(up)
    up.set_defaults(func=_run(cmd_db_upgrade))

    p = subparsers.add_parser("seed-demo", help="the demo clinic, its staff and patients; prints the logins")
    _common(p)
    p.set_defaults(func=_run(cmd_seed_demo))

    p = subparsers.add_parser("enroll", help="in-person enrollment: e-mails the invitation and prints its link")
    p.add_argument("--clinic", required=True, help="clinic slug")
    p.add_argument("--name", required=True)
    p.add_argument("--dob", required=True, type=_date, help="date of birth, YYYY-MM-DD")
    p.add_argument("--email", required=True)
    p.add_argument("--medication", action="append", default=[], help="repeat for each medication")
    p.add_argument("--dependent", action="append", default=[], type=_dependent,
                   help="a child or other dependent as NAME or NAME:YYYY-MM-DD (repeatable)")
    p.add_argument("--care-team", help="care team slug (default: the clinic's first)")
    _common(p)
    p.set_defaults(func=_run(cmd_enroll))

    p = subparsers.add_parser("rotate-key", help="add a new data key and re-encrypt stored values in batches")
    p.add_argument("--no-new-key", action="store_true",
                   help="only re-encrypt under the active key (e.g. after changing MICARE_KEYS)")
    p.add_argument("--batch", type=int, default=200)
    _common(p)
    p.set_defaults(func=_run(cmd_rotate_key))

    from .staff.cli import register as register_staff

    register_staff(subparsers)

    p = subparsers.add_parser("audit", help="the audit log")
    asub = p.add_subparsers(dest="audit_command", required=True)
    v = asub.add_parser("verify", help="check the hash chain; names the first broken record")
    _common(v)
    v.set_defaults(func=_run(cmd_audit_verify))


# --- commands ---------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .app import create_app
    from .channels.web import AccessLogger

    _logging()
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"micare-bot: {exc}", file=sys.stderr)
        return 2
    def ready(_: str) -> None:
        print(f"micare-bot gateway ready on http://{settings.host}:{settings.port} "
              f"(public URL {settings.base_url}); Ctrl-C stops it", flush=True)
        print(f"patient chat demo (a stand-in clinic page with the widget): {settings.base_url}/demo", flush=True)

    print("micare-bot gateway starting (loading the conversation engine) ...", flush=True)
    try:
        web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log_class=AccessLogger,
                    print=ready)
    except (ConfigError, ClinicFileError) as exc:
        print(f"micare-bot: {exc}", file=sys.stderr)
        return 2
    return 0


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from .store import db

    settings = _settings(args)
    engine = db.make_engine(settings.database_url, pool_size=1)
    try:
        await db.upgrade(engine)
        print(f"database schema at revision {await db.current_revision(engine)}")
    finally:
        await engine.dispose()
    return 0


async def _open(settings: Settings) -> tuple[Any, Any]:
    from .store import db
    from .store.crypto import keyring_from_settings

    keyring = keyring_from_settings(settings)
    engine = db.make_engine(settings.database_url, pool_size=2)
    if await db.current_revision(engine) != db.head_revision():
        await engine.dispose()
        raise ConfigError("the database schema is not current: run `micare-bot db upgrade` first")
    return engine, keyring


async def seed_demo(settings: Settings, *, now: datetime) -> list[tuple[str, str, str]]:
    """Create (or find) the demo clinic, its staff and patients; returns (role, name, e-mail)."""
    from sqlalchemy import select

    from . import accounts
    from .clinic_settings import load_clinic_file
    from .store import db
    from .store.clinics import sync_clinic
    from .store.schema import Account

    clinic = load_clinic_file(settings.clinic_file)
    engine, keyring = await _open(settings)
    logins: list[tuple[str, str, str]] = []
    try:
        async with db.write(engine) as conn:
            row = await sync_clinic(conn, clinic, now)

        async def ensure(role: str, name: str, email: str, **kw: Any) -> None:
            async with db.read(engine) as conn:
                exists = (await conn.execute(select(Account.id).where(
                    Account.email_index == keyring.blind_index(email)))).first()
            if exists is None:
                inv = await accounts.enroll(engine, keyring, settings, row, name=name, email=email, now=now,
                                            role=role, notify=False, actor="seed-demo", **kw)
                await accounts.accept_invitation(engine, inv.token, DEMO_PASSWORD, now=now)
            logins.append((role, name, email))

        for team in clinic.teams:
            for member in team.staff:
                await ensure("staff", member.name, member.email, title=member.title, care_team=team.slug)
        # issue 5: clinic admins, and every staff member's role and teams
        from .staff.roster import seed_roles

        for admin in clinic.raw.get("admins") or []:
            await ensure("staff", str(admin["name"]), str(admin["email"]), title="Clinic administrator")
            logins[-1] = ("admin", *logins[-1][1:])
        async with db.write(engine) as conn:
            await seed_roles(conn, keyring, clinic, row, now)
        for patient in json.loads(DEMO_PATIENTS.read_text(encoding="utf-8")):
            await ensure(
                "patient", patient["name"], patient["email"], dob=_dob_for_age(patient.get("age"), now.date()),
                medications=patient.get("medications", []),
                dependents=[(d["name"], _dob_for_age(d.get("age"), now.date())) for d in patient.get("dependents", [])],
            )
    finally:
        await engine.dispose()
    return logins


def _dob_for_age(age: int | None, today: date) -> date | None:
    """A birth date giving ``age`` today (the demo file has ages, not dates)."""
    if age is None:
        return None
    born = today - timedelta(days=int(age * 365.25) + 30)
    return born


async def cmd_seed_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logins = await seed_demo(settings, now=utcnow())
    print(f"Demo clinic ready. Sign in at {settings.base_url} with password {DEMO_PASSWORD!r}:")
    for role, name, email in logins:
        print(f"  {role:8} {name:20} {email}")
    print(f"Staff and admins sign in at {settings.base_url}/staff/login")
    return 0


async def find_clinic(engine: Any, slug: str) -> Any:
    """The clinic row for a command's --clinic, or None after saying so on stderr."""
    from .store import db
    from .store.clinics import clinic_by_slug

    async with db.read(engine) as conn:
        clinic = await clinic_by_slug(conn, slug)
    if clinic is None:
        print(f"micare-bot: no clinic {slug!r} (run seed-demo or serve with its clinic file)", file=sys.stderr)
    return clinic


async def cmd_enroll(args: argparse.Namespace) -> int:
    from . import accounts
    from .channels.email import OutboxSender

    settings = _settings(args)
    engine, keyring = await _open(settings)
    try:
        clinic = await find_clinic(engine, args.clinic)
        if clinic is None:
            return 2
        try:
            inv = await accounts.enroll(engine, keyring, settings, clinic, name=args.name, email=args.email,
                                        now=utcnow(), dob=args.dob, medications=args.medication,
                                        dependents=args.dependent, care_team=args.care_team)
        except accounts.AccountError as exc:
            print(f"micare-bot: {exc.message}", file=sys.stderr)
            return 1
        await OutboxSender(engine, keyring, settings).send_due()  # try now; the server retries otherwise
        print("Invitation sent (valid 7 days). Link:")
        print(inv.link)
    finally:
        await engine.dispose()
    return 0


async def cmd_rotate_key(args: argparse.Namespace) -> int:
    from .store import crypto, rotate

    settings = _settings(args)
    if not args.no_new_key:
        path = crypto.default_key_file(settings)
        if settings.keys is not None or path is None:
            print("micare-bot: keys come from MICARE_KEYS: put the new key first there, restart the servers, "
                  "then run `micare-bot rotate-key --no-new-key`", file=sys.stderr)
            return 2
        if not path.exists():
            crypto.create_key_file(path)
        ring = crypto.add_active_key(path)
        print(f"new active key {ring.active} added to {path}")
    engine, keyring = await _open(settings)
    try:
        counts = await rotate.rotate(engine, keyring, now=utcnow(), batch=args.batch)
        stale = await rotate.count_stale(engine, keyring)
    finally:
        await engine.dispose()
    print(f"re-encrypted {sum(counts.values())} values under key {keyring.active}; {stale} left under older keys")
    return 0 if stale == 0 else 1


async def cmd_audit_verify(args: argparse.Namespace) -> int:
    from .store import audit, db

    settings = _settings(args)
    engine = db.make_engine(settings.database_url, pool_size=1)
    try:
        result = await audit.verify(engine)
    finally:
        await engine.dispose()
    if result.ok:
        print(f"audit chain OK: {result.records} records, head {result.head_hash}")
        return 0
    print(f"audit chain BROKEN at record {result.first_broken}: {result.reason} "
          f"({result.records} records verified before it)")
    return 1
