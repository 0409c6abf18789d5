"""The staff pages over HTTP (server-rendered), the `staff add` command and the seeded logins."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from micare_bot import service_cli
from micare_bot.store import db
from micare_bot.store.schema import Account, StaffMember, TeamMember

from .staff_helpers import ADMIN, GOLD, JORDAN, NURSE, file_request
from .test_cli import cli_env  # noqa: F401  (the fixture)
from .test_staff_api import World, only_request, world  # noqa: F401  (the fixture)


class TestPages:
    async def test_signed_out_browsers_go_to_sign_in(self, world: World) -> None:
        anon = world.actors.new()
        resp = await anon.get("/staff/queue", allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "/staff/login"
        jordan = await world.actors.patient(JORDAN)  # a patient session does not open staff pages
        resp = await jordan.get("/staff/queue", allow_redirects=False)
        assert resp.status == 302
        login = await anon.get("/staff/login")
        assert login.status == 200
        csp = login.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert 'name="password"' in await login.text()

    async def test_queue_and_request_pages_show_the_structured_request(self, world: World) -> None:
        filed = await file_request(await world.actors.patient(JORDAN))
        nurse = await world.actors.staff(NURSE)
        html = await (await nurse.get("/staff/queue")).text()
        assert filed["request_id"] in html and "Jordan Avery" in html and "Medication refill" in html
        assert "Losartan" in html and 'name="csrf-token"' in html
        assert "<script>" not in html  # no inline script: the CSP forbids it
        rid = (await only_request(nurse))["id"]
        page = await (await nurse.get(f"/staff/requests/{rid}")).text()
        assert "I need my blood pressure pill refilled" in page
        assert "Refill sent to the pharmacy" in page  # the canned replies of the intent
        assert 'data-action="claim"' in page
        filtered = await (await nurse.get("/staff/queue?intent=results")).text()
        assert filed["request_id"] not in filtered and "No requests match" in filtered

    async def test_pages_keep_the_access_rules(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse, gold = await world.actors.staff(NURSE), await world.actors.staff(GOLD)
        rid = (await only_request(nurse))["id"]
        resp = await gold.get(f"/staff/requests/{rid}")
        assert resp.status == 404 and "Jordan" not in await resp.text()
        assert "Jordan" not in await (await gold.get("/staff/queue")).text()
        assert (await nurse.get("/staff/admin/staff")).status == 403
        admin = await world.actors.staff(ADMIN)
        staff_page = await (await admin.get("/staff/admin/staff")).text()
        assert "Casey Morgan" in staff_page and "Clinic administrator" in staff_page
        assert "Staff accounts" in await (await admin.get("/staff/queue")).text()  # the admin nav link
        assert "Staff accounts" not in await (await nurse.get("/staff/queue")).text()
        assert (await nurse.get("/staff/static/../../config.py")).status == 404
        assert (await nurse.get("/staff/static/staff.js")).status == 200


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="micare-bot")
    sub = parser.add_subparsers(dest="command", required=True)
    service_cli.register(sub)
    return int(parser.parse_args(list(argv)).func(parser.parse_args(list(argv))))


class TestCommands:
    def test_seed_demo_gives_roles_and_staff_add_enrolls(self, cli_env: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
                                                         ) -> None:
        assert run("db", "upgrade") == 0
        assert run("seed-demo") == 0
        out = capsys.readouterr().out
        assert re.search(r"admin\s+Robin Hale", out) and "/staff/login" in out
        assert run("staff", "add", "--clinic", "demo", "--name", "Pat Quinn", "--email", "pat@riverside.example",
                   "--role", "med_tech", "--team", "blue") == 0
        out = capsys.readouterr().out
        assert "/#invitation=" in out
        assert run("staff", "add", "--clinic", "demo", "--name", "Pat Quinn", "--email", "pat@riverside.example",
                   "--role", "med_tech", "--team", "blue") == 1  # already enrolled
        assert run("staff", "add", "--clinic", "demo", "--name", "X", "--email", "x@riverside.example",
                   "--role", "surgeon", "--team", "blue") == 1
        assert run("staff", "add", "--clinic", "nowhere", "--name", "X", "--email", "x@riverside.example",
                   "--role", "nurse", "--team", "blue") == 2

        async def roles() -> dict[str, Any]:
            from micare_bot.config import Settings

            engine = db.make_engine(Settings.from_env().database_url, pool_size=1)
            try:
                async with db.read(engine) as conn:
                    rows = (await conn.execute(select(StaffMember.role, Account.status)
                                               .join(Account, Account.id == StaffMember.account_id))).all()
                    members = (await conn.execute(select(TeamMember.account_id))).all()
            finally:
                await engine.dispose()
            return {"roles": sorted((r.role, r.status) for r in rows), "members": len(members)}

        import asyncio

        got = asyncio.run(roles())
        assert got["roles"] == [("admin", "active"), ("med_tech", "invited"), ("nurse", "active"), ("pcm", "active")]
        assert got["members"] == 3  # the nurse, the PCM and the new med tech; the admin has no team


class TestRequestPageForms:
    async def test_reroute_offers_only_the_other_teams(self, world: World) -> None:
        await file_request((await world.actors.patient(JORDAN)))
        nurse = await world.actors.staff(NURSE)
        rid = (await only_request(nurse))["id"]
        page = await (await nurse.get(f"/staff/requests/{rid}")).text()
        options = re.findall(r'<option value="([a-z]+)">[^<]*Team</option>', page)
        assert options == ["gold"]
