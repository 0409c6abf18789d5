"""``micare-bot staff add``: enroll a staff member or clinic admin (invitation e-mailed, link printed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    from ..service_cli import _common, _run

    p = subparsers.add_parser("staff", help="care-team staff and clinic admins")
    sub = p.add_subparsers(dest="staff_command", required=True)
    add = sub.add_parser("add", help="enroll a staff member: e-mails the invitation and prints its link")
    add.add_argument("--clinic", required=True, help="clinic slug")
    add.add_argument("--name", required=True)
    add.add_argument("--email", required=True)
    add.add_argument("--role", required=True, help="pcm, nurse, med_tech, front_desk or admin")
    add.add_argument("--team", action="append", default=[], help="care team slug (repeatable; not for admins)")
    add.add_argument("--title", help="job title shown to colleagues (default: from the role)")
    _common(add)
    add.set_defaults(func=_run(cmd_staff_add))


async def cmd_staff_add(args: argparse.Namespace) -> int:
    from ..accounts import AccountError
    from ..channels.email import OutboxSender
    from ..service_cli import _open, _settings, find_clinic, utcnow
    from .roster import add_staff

    settings = _settings(args)
    engine, keyring = await _open(settings)
    try:
        clinic = await find_clinic(engine, args.clinic)
        if clinic is None:
            return 2
        try:
            inv = await add_staff(engine, keyring, settings, clinic, name=args.name, email=args.email,
                                  role=args.role, teams=args.team, title=args.title, now=utcnow())
        except AccountError as exc:
            print(f"micare-bot: {exc.message}", file=sys.stderr)
            return 1
        await OutboxSender(engine, keyring, settings).send_due()  # try now; the server retries otherwise
        print(f"Staff invitation sent (valid {settings.invitation_days} days); after accepting it, "
              f"sign in at {settings.base_url}/staff/login. Link:")
        print(inv.link)
    finally:
        await engine.dispose()
    return 0
