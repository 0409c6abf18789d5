"""The quality pages over HTTP on SQLite and PostgreSQL: the real app on a database holding the scripted
demo fortnight (played through the real gateway and the staff queue), read by a signed-in clinic admin."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot.app import create_app, engine_key, gateway_key
from micare_bot.clinic_settings import ClinicSettings
from micare_bot.config import Settings
from micare_bot.quality import testruns
from micare_bot.store import audit, db
from micare_bot.store.schema import AuditEntry

from .staff_helpers import ADMIN, JORDAN, NURSE, Actor, Actors, Clock
from .test_quality import ABANDONED_AT, INTENTS, NOW, OVERVIEW, RESPONSE, seed_fortnight

PERIOD = "since=2026-11-16&until=2026-11-22"
HTML = {"Accept": "text/html"}


@pytest.fixture
async def client(engine: AsyncEngine, settings: Settings, clinic_settings: ClinicSettings,
                 aiohttp_client: Any) -> TestClient:
    """The real app (outbox off) at the fixed time, on a database with the demo fortnight."""
    await seed_fortnight(settings, clinic_settings)
    return await aiohttp_client(create_app(settings, clock=Clock(NOW), send_mail=False))


@pytest.fixture
async def actors(client: TestClient) -> AsyncIterator[Actors]:
    made = Actors(client)
    yield made
    await made.close()


async def audit_details(client: TestClient, action: str) -> list[dict[str, Any]]:
    async with db.read(client.server.app[engine_key]) as conn:
        return [json.loads(d) for d in (await conn.execute(
            select(AuditEntry.detail).where(AuditEntry.action == action))).scalars()]


class TestAccess:
    async def test_only_the_clinics_admins_get_in(self, client: TestClient, actors: Actors) -> None:
        """Signed out: the pages send the browser to the staff sign-in, the JSON and CSV answer 401; a
        patient's session opens nothing; a nurse gets 403 (a page, or SPEC §6 JSON); the admin gets in."""
        anonymous = actors.new()
        resp = await anonymous.get("/api/v1/staff/quality/report")
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthenticated"
        resp = await anonymous.get("/staff/quality", headers=HTML, allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "/staff/login"
        patient = await actors.patient(JORDAN)
        assert (await patient.get("/staff/quality/export/overview.csv")).status == 401
        assert (await patient.get("/staff/quality/runs", allow_redirects=False)).status == 302
        nurse = await actors.staff(NURSE)
        for path in ("/staff/quality", "/staff/quality/runs", "/staff/quality/samples?outcome=abandoned"):
            resp = await nurse.get(path, headers=HTML)
            assert resp.status == 403, path
            assert "This page is for clinic administrators." in await resp.text()
        for path in ("/api/v1/staff/quality/report", "/staff/quality/export/weekly.csv"):
            resp = await nurse.get(path)
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden", path
        nav = await (await nurse.get("/staff/queue", headers=HTML)).text()
        assert "/staff/quality" not in nav
        admin = await actors.staff(ADMIN)
        resp = await admin.get("/staff/quality", headers=HTML)
        assert resp.status == 200
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp
        assert 'href="/staff/quality/runs"' in await resp.text()  # in the staff nav

    @pytest.mark.parametrize("query,status,code", [
        ("since=2026-11-20&until=2026-11-10", 422, "invalid_period"),
        ("since=yesterday", 422, "invalid_date"),
        ("since=2024-01-01&until=2026-11-22", 422, "invalid_period"),
        ("team=red", 404, "unknown_team"),
        ("team=%3Cscript%3E", 404, "unknown_team"),
    ])
    async def test_bad_queries_are_clean_4xx(self, actors: Actors, query: str, status: int, code: str) -> None:
        """A reversed, unreadable or too long period and an unknown team answer 4xx with a code."""
        admin = await actors.staff(ADMIN)
        resp = await admin.get(f"/api/v1/staff/quality/report?{query}")
        assert resp.status == status and (await resp.json())["error"]["code"] == code
        assert (await admin.get(f"/staff/quality/export/secrets.csv?{PERIOD}")).status == 404


class TestFigures:
    async def test_json_has_every_figure_of_the_scripted_week(self, client: TestClient, actors: Actors) -> None:
        """Every figure over HTTP equals the hand count, the staff figures included."""
        admin = await actors.staff(ADMIN)
        body = await admin.json(f"/api/v1/staff/quality/report?{PERIOD}&team=blue")
        tables = {name: t["rows"] for name, t in body["tables"].items()}
        assert {r["figure"]: r["value"] for r in tables["overview"]} == OVERVIEW
        assert {r["intent"]: (r["started"], r["filed"], r["redirected"], r["cancelled"], r["abandoned"],
                              r["completion_rate"], r["abandonment_rate"], r["median_turns_to_file"],
                              r["median_minutes_to_file"]) for r in tables["intents"]} == INTENTS
        assert {(r["intent"], r["field"]): r["abandoned"] for r in tables["abandonment"]} == ABANDONED_AT
        assert {r["level"]: r["redirects"] for r in tables["redirects"]} == \
            {"emergency": 1, "crisis": 1, "poison": 1, "same_day": 1}
        assert [(r["bot_intent"], r["staff_intent"], r["requests"], r["share_of_bot_intent"])
                for r in tables["relabels"]] == [("refill", "other", 1, 0.25), ("symptom", "appointment", 1, 0.5)]
        assert sorted((r["intent"], r["field"], r["requests"]) for r in tables["asked_again"]) == \
            [("immunization_copy", "purpose", 1), ("refill", "pharmacy", 1), ("symptom", "onset", 1)]
        assert {r["figure"]: r["value"] for r in tables["response"]} == RESPONSE
        assert [(w["week"], w["started"], w["share_answered_in_time"]) for w in tables["weekly"]] == \
            [("2026-11-09", 7, 0.6667), ("2026-11-16", 20, 0.8571)]
        assert body["response_target"] == "1 business day" and body["care_team"] == "blue"

    async def test_dashboard_and_csv_show_the_figures_without_phi(self, client: TestClient, actors: Actors) -> None:
        """The page and every CSV show the figures; no patient name, e-mail or word appears; views are audited."""
        admin = await actors.staff(ADMIN)
        resp = await admin.get(f"/staff/quality?{PERIOD}", headers=HTML)
        page = await resp.text()
        assert re.search(r'data-figure="started">20<', page) and re.search(r'data-figure="in-time">85.7%<', page)
        assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 5
        exported = []
        for name in ("overview", "intents", "abandonment", "redirects", "relabels", "asked_again", "response",
                     "weekly"):
            r = await admin.get(f"/staff/quality/export/{name}.csv?{PERIOD}")
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
            assert f'filename="demo-{name}-2026-11-16-2026-11-22.csv"' in r.headers["Content-Disposition"]
            exported.append(await r.text())
        rows = {r["intent"]: r for r in csv.DictReader(io.StringIO(exported[1]))}
        assert (rows["refill"]["started"], rows["refill"]["completion_rate"]) == ("6", "0.6667")
        everything = (page + "".join(exported)).lower()
        for phi in ("jordan", "avery", "frank", "losartan", "furosemide", "crushing", "sore throat", "@example.com"):
            assert phi not in everything, phi
        views = [d["view"] for d in await audit_details(client, "quality.view")]
        assert "dashboard" in views and "export.weekly" in views

    async def test_samples_list_states_and_the_transcript_is_audited(self, client: TestClient,
                                                                     actors: Actors) -> None:
        """Redirected at 'crisis': one conversation listed without words; opening it shows the words and is
        audited; an unknown or malformed id is 404."""
        admin = await actors.staff(ADMIN)
        resp = await admin.get(f"/staff/quality/samples?{PERIOD}&level=crisis", headers=HTML)
        page = await resp.text()
        ids = re.findall(r'href="/staff/quality/samples/([0-9a-f-]{36})"', page)
        assert resp.status == 200 and len(ids) == 1 and "kill" not in page
        before = len(await audit_details(client, "phi.read"))
        resp = await admin.get(f"/staff/quality/samples/{ids[0]}", headers=HTML)
        assert resp.status == 200 and "I want to kill myself" in await resp.text()
        reads = await audit_details(client, "phi.read")
        assert len(reads) == before + 1 and reads[-1] == {"view": "quality.sample"}
        assert (await admin.get("/staff/quality/samples/00000000-0000-0000-0000-000000000000")).status == 404
        assert (await admin.get("/staff/quality/samples/not-an-id")).status == 404
        bad = await admin.get(f"/staff/quality/samples?{PERIOD}&outcome=everything")
        assert bad.status == 422


def upload_form(admin: Actor, data: bytes, *, kind: str = "evaluate", csrf: str | None = None,
                name: str = "set.jsonl", lexicon: str = "live") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf_token", admin.csrf if csrf is None else csrf)
    form.add_field("kind", kind)
    form.add_field("lexicon", lexicon)
    form.add_field("file", io.BytesIO(data), filename=name, content_type="application/jsonl")
    return form


class TestLabeledRunsOverHttp:
    async def test_upload_then_report_with_the_difference(self, client: TestClient, actors: Actors) -> None:
        """Upload, see the report; upload a changed copy: the new report lists the newly failing line first."""
        admin = await actors.staff(ADMIN)
        lines = [{"id": "a", "text": "I need my losartan refilled", "intent": "refill", "triage": "routine"},
                 {"id": "b", "text": "I have crushing chest pain", "intent": "symptom", "triage": "emergency"}]
        data = "".join(json.dumps(x) + "\n" for x in lines).encode()
        resp = await admin.http.post(admin.url("/staff/quality/runs"), data=upload_form(admin, data),
                                     headers={**HTML, "Origin": admin.base}, allow_redirects=False)
        assert resp.status == 303, await resp.text()
        first = resp.headers["Location"]
        page = await (await admin.get(first, headers=HTML)).text()
        assert 'data-figure="failed">0<' in page and "Every line passed." in page
        lines[1]["triage"] = "routine"  # labeled routine, flagged urgent: over-triage
        data = "".join(json.dumps(x) + "\n" for x in lines).encode()
        resp = await admin.http.post(admin.url("/staff/quality/runs"), data=upload_form(admin, data),
                                     headers={**HTML, "Origin": admin.base}, allow_redirects=False)
        page = await (await admin.get(resp.headers["Location"], headers=HTML)).text()
        assert "Newly failing (passed in the previous run) (1)" in page
        assert page.index("t-newly_failing") < page.index("I have crushing chest pain")
        assert "over triage" in page
        listing = await (await admin.get("/staff/quality/runs", headers=HTML)).text()
        assert listing.count("set.jsonl") >= 2
        assert [d["kind"] for d in await audit_details(client, "quality.test_run")] == ["evaluate", "evaluate"]
        # a browser on the staff pages (no-referrer) sends "Origin: null" with the form: the token decides
        resp = await admin.http.post(admin.url("/staff/quality/runs"), data=upload_form(admin, data),
                                     headers={**HTML, "Origin": "null"}, allow_redirects=False)
        assert resp.status == 303

    async def test_the_clinics_lexicon_additions_before_they_go_live(self, client: TestClient,
                                                                     actors: Actors) -> None:
        """The demo clinic's candidate additions read 'PHS 731' as an immunization record; the live lexicon
        does not: the candidate run passes, records another lexicon version and lists the line newly passing."""
        admin = await actors.staff(ADMIN)
        data = b'{"id": "p1", "text": "need my PHS 731 updated", "intent": "immunization_copy", "triage": "routine"}\n'
        pages = []
        for lexicon in ("live", "candidate"):
            resp = await admin.http.post(admin.url("/staff/quality/runs"),
                                         data=upload_form(admin, data, lexicon=lexicon, name="phs.jsonl"),
                                         headers={**HTML, "Origin": admin.base}, allow_redirects=False)
            assert resp.status == 303, await resp.text()
            pages.append(await (await admin.get(resp.headers["Location"], headers=HTML)).text())
        assert 'data-figure="failed">1<' in pages[0] and 'data-figure="failed">0<' in pages[1]
        assert "Newly passing (failed in the previous run) (1)" in pages[1]
        versions = [re.search(r"version <code>(\w+)</code>", p).group(1) for p in pages]  # type: ignore[union-attr]
        assert versions[0] != versions[1]

    async def test_upload_limits_csrf_and_bad_lines(self, client: TestClient, actors: Actors) -> None:
        """Too large: 413; a wrong form token: 403; a bad line: 422 naming the line; a nurse: 403."""
        admin = await actors.staff(ADMIN)
        big = b'{"id": "x", "text": "hi", "intent": "other", "triage": "routine"}\n' * (
            testruns.MAX_UPLOAD_BYTES // 60 + 10)
        resp = await admin.http.post(admin.url("/staff/quality/runs"), data=upload_form(admin, big))
        assert resp.status == 413 and (await resp.json())["error"]["code"] == "file_too_large"
        resp = await admin.http.post(admin.url("/staff/quality/runs"),
                                     data=upload_form(admin, b'{"text": "a", "intent": "other", "triage": "routine"}\n',
                                                      csrf="forged"))
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf_failed"
        resp = await admin.http.post(admin.url("/staff/quality/runs"),
                                     data=upload_form(admin, b'{"text": "a", "intent": "other", "triage": "routine"}\n'),
                                     headers={"Origin": "https://evil.example"})
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "bad_origin"
        resp = await admin.http.post(admin.url("/staff/quality/runs"),
                                     data=upload_form(admin, b'{"id": "1", "text": "hello"}\n'))
        body = await resp.json()
        assert resp.status == 422 and body["error"]["message"] == "line 1: missing intent, triage"
        resp = await admin.http.post(admin.url("/staff/quality/runs"), data=upload_form(admin, b"{}", kind="magic"))
        assert resp.status == 422
        nurse = await actors.staff(NURSE)
        resp = await nurse.http.post(nurse.url("/staff/quality/runs"),
                                     data=upload_form(nurse, b'{"text": "a", "intent": "other", "triage": "routine"}\n'))
        assert resp.status == 403
        app = client.server.app
        clinic_id = next(iter(app[gateway_key].clinics))
        assert await testruns.list_runs(app[engine_key], clinic_id) == []
        assert (await audit.verify(app[engine_key])).ok
