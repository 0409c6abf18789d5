"""The clinic admin's quality pages under ``/staff/quality`` and their JSON/CSV twins.

Server-rendered jinja2 in the staff area's layout (``templates/staff/base.html``,
its strict CSP: scripts and styles from our origin only) with charts drawn on
the server as inline SVG; these pages add no script of their own. Every route
is for the clinic's admins (the staff role guard with ``admin``) and shows
only their own clinic. Figures carry no PHI; the transcripts behind a figure open one at
a time, and each opening is written to the audit chain before it is shown.

Routes:

* ``GET  /staff/quality`` — the dashboard (``since``, ``until``, ``team``)
* ``GET  /staff/quality/export/{table}.csv`` — one table as CSV, same query
* ``GET  /api/v1/staff/quality/report`` — the same figures as JSON
* ``GET  /staff/quality/samples`` — the conversations behind a figure (ids, times, states)
* ``GET  /staff/quality/samples/{id}`` — one transcript (audited)
* ``GET  /staff/quality/runs`` and ``POST`` — labeled test runs: list and upload
* ``GET  /staff/quality/runs/{id}`` — a run's report and its difference from the previous run
"""

from __future__ import annotations

import hmac
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import BodyPartReader, web

from ..clinic_settings import ClinicSettings
from ..models import INTENTS, URGENT_LEVELS
from ..quality import charts, export, metrics, queries, testruns
from ..quality.queries import QualityError, SampleFilter, Scope
from ..staff.roster import StaffMember
from ..store import audit, db
from . import keys as K
from .staff_pages import add_nav, render, staff_page, staff_templates_key
from .staff_web import require_staff, staff_csrf
from .web import ApiError, check_origin, error_response, now

STATIC_DIR = Path(__file__).resolve().parents[1] / "static" / "quality"
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SLUG = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FIELD = re.compile(r"^[a-z_]{1,32}$|^\(intent unclear\)$")
MAX_PERIOD_DAYS = 366


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"


def _num(value: Any) -> str:
    return "–" if value is None else metrics.format_value(value)


def _signed(value: Any, percent: bool = False) -> str:
    if value is None:
        return "–"
    if percent:
        points = value * 100
        return f"{points:+.1f} pts" if points else "±0 pts"
    return f"{value:+g}" if value else "±0"


def add_filters(env: jinja2.Environment) -> None:
    env.filters.update(pct=_pct, num=_num, signed=_signed)


# --- who may look: the staff role guard with the admin role --------------------------------------

ADMIN_ROLES = ("admin",)


async def require_admin(request: web.Request) -> StaffMember:
    """For the JSON and CSV routes: a 401/403 SPEC §6 error unless a signed-in admin."""
    return await require_staff(request, ADMIN_ROLES)


def error_page(request: web.Request, member: StaffMember, exc: ApiError | QualityError | testruns.RunError
               ) -> web.Response:
    heading = "Not found" if exc.status == 404 else "That did not work"
    return render(request, "staff/error.html", member, status=exc.status, heading=heading, message=exc.message)


# --- helpers --------------------------------------------------------------------------------


def _clinic(request: web.Request, member: StaffMember) -> ClinicSettings:
    return request.app[K.gateway].clinic(member.clinic_id)


def _idle(request: web.Request) -> timedelta:
    return timedelta(seconds=request.app[K.settings].session_idle_seconds)


def _date_arg(request: web.Request, name: str, default: date) -> date:
    raw = request.query.get(name, "")
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "invalid_date", f"'{name}' must be a date like 2026-11-16.") from None


async def _scope(request: web.Request, member: StaffMember, clinic: ClinicSettings) -> Scope:
    tz = clinic.calendar.timezone
    default = queries.default_period(now(request), tz)
    until = _date_arg(request, "until", default.end)
    since = _date_arg(request, "since", until - timedelta(days=6))
    if since > until:
        raise ApiError(422, "invalid_period", "The period must start on or before its last day.")
    if (until - since).days >= MAX_PERIOD_DAYS:
        raise ApiError(422, "invalid_period", "Choose a period of at most a year.")
    team = request.query.get("team") or None
    if team is not None and not _SLUG.match(team):
        raise ApiError(404, "unknown_team", "No such care team in this clinic.")
    try:
        return await queries.scope_for(request.app[K.engine], member.clinic_id, team,
                                       metrics.Period(since, until, tz))
    except QualityError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


def _query(scope: Scope, team: str | None, **extra: str | None) -> str:
    params = {"since": scope.period.start.isoformat(), "until": scope.period.end.isoformat()}
    if team:
        params["team"] = team
    params.update({k: v for k, v in extra.items() if v})
    return urlencode(params)


async def _audit_view(request: web.Request, member: StaffMember, view: str) -> None:
    async with db.write(request.app[K.engine]) as conn:
        await audit.append(conn, at=now(request), actor=member.actor(), action="quality.view",
                           target_type="clinic", target_id=member.clinic_id, detail={"view": view})


# --- the dashboard ---------------------------------------------------------------------------------


def _charts(report: metrics.Report) -> dict[str, Any]:
    intents = report["intents"]
    weekly = report["weekly"]
    weeks = weekly.column("week")
    return {
        "completion": charts.bar_chart("ch-completion", "Completion rate per intent",
                                       [(r["intent"], r["completion_rate"]) for r in intents.dicts()], percent=True),
        "abandonment": charts.bar_chart("ch-abandon", "Abandoned conversations by the field awaited",
                                        [(f"{r['intent']}: {r['field']}", r["abandoned"])
                                         for r in report["abandonment"].dicts()]),
        "redirects": charts.bar_chart("ch-redirects", "Urgent redirects per triage level",
                                      list(report["redirects"].rows)),
        "started": charts.line_chart("ch-started", "Conversations started per week", weeks,
                                     [("started", weekly.column("started")), ("filed", weekly.column("filed"))]),
        "rates": charts.line_chart("ch-rates", "Completion, abandonment and replies in time per week", weeks,
                                   [("completion", weekly.column("completion_rate")),
                                    ("abandonment", weekly.column("abandonment_rate")),
                                    ("answered in time", weekly.column("share_answered_in_time"))], percent=True),
    }


@staff_page(roles=ADMIN_ROLES)
async def dashboard(request: web.Request, member: StaffMember) -> web.Response:
    clinic = _clinic(request, member)
    try:
        scope = await _scope(request, member, clinic)
    except ApiError as exc:
        return error_page(request, member, exc)
    team = request.query.get("team") or None
    report = await queries.compute_report(request.app[K.engine], scope, clinic, now=now(request), idle=_idle(request))
    await _audit_view(request, member, "dashboard")
    overview = dict(report["overview"].rows)
    response = dict(report["response"].rows)
    context = {
        "clinic": clinic, "scope": scope, "team": team, "report": report,
        "teams": await queries.teams(request.app[K.engine], member.clinic_id),
        "overview": overview, "response": response, "charts": _charts(report),
        "relabel_share": metrics.relabel_share(report), "unclear": metrics.UNCLEAR,
        "query": _query(scope, team), "q": lambda **kw: _query(scope, team, **kw),
        "tables": metrics.TABLE_NAMES, "idle_minutes": int(_idle(request).total_seconds() // 60),
        "target": str(clinic.target),
    }
    return render(request, "quality/dashboard.html", member, **context)


async def report_json(request: web.Request) -> web.Response:
    member = await require_admin(request)
    clinic = _clinic(request, member)
    scope = await _scope(request, member, clinic)
    report = await queries.compute_report(request.app[K.engine], scope, clinic, now=now(request), idle=_idle(request))
    await _audit_view(request, member, "report.json")
    body = report.to_dict()
    body.update({"clinic": clinic.slug, "care_team": request.query.get("team") or None,
                 "response_target": str(clinic.target)})
    return web.json_response(body)


async def export_csv(request: web.Request) -> web.Response:
    member = await require_admin(request)
    name = request.match_info["table"]
    if name not in metrics.TABLE_NAMES:
        raise ApiError(404, "not_found", "No such table.")
    clinic = _clinic(request, member)
    scope = await _scope(request, member, clinic)
    report = await queries.compute_report(request.app[K.engine], scope, clinic, now=now(request), idle=_idle(request))
    await _audit_view(request, member, f"export.{name}")
    filename = f"{clinic.slug}-{name}-{scope.period.start}-{scope.period.end}.csv"
    return web.Response(text=export.to_csv(report[name]), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- transcript samples behind a figure ----------------------------------------------------------


def _filter(request: web.Request) -> SampleFilter:
    q = request.query
    intent = q.get("intent") or None
    if intent is not None and intent not in INTENTS and intent != metrics.UNCLEAR:
        raise ApiError(422, "invalid_intent", "Unknown intent.")
    outcome = q.get("outcome") or None
    if outcome is not None and outcome not in metrics.OUTCOMES:
        raise ApiError(422, "invalid_outcome", "Unknown outcome.")
    fld = q.get("field") or None
    if fld is not None and not _FIELD.match(fld):
        raise ApiError(422, "invalid_field", "Unknown field.")
    level = q.get("level") or None
    if level is not None and level not in URGENT_LEVELS:
        raise ApiError(422, "invalid_level", "Unknown triage level.")
    return SampleFilter(intent, outcome, fld, level)


@staff_page(roles=ADMIN_ROLES)
async def samples(request: web.Request, member: StaffMember) -> web.Response:
    clinic = _clinic(request, member)
    try:
        scope = await _scope(request, member, clinic)
        flt = _filter(request)
    except ApiError as exc:
        return error_page(request, member, exc)
    team = request.query.get("team") or None
    total, rows = await queries.sample(request.app[K.engine], scope, flt, now=now(request), idle=_idle(request))
    await _audit_view(request, member, "samples")
    return render(request, "quality/samples.html", member, clinic=clinic, scope=scope, flt=flt, total=total,
                  rows=rows, back=_query(scope, team), now=now(request), idle=_idle(request),
                  outcome=metrics.outcome, tz=clinic.calendar.timezone)


@staff_page(roles=ADMIN_ROLES)
async def sample_transcript(request: web.Request, member: StaffMember) -> web.Response:
    clinic = _clinic(request, member)
    try:
        cid = request.match_info["id"]
        if not _ID.match(cid):
            raise ApiError(404, "not_found", "No such conversation in this clinic.")
        conv = await queries.transcript_sample(request.app[K.engine], request.app[K.keyring], member.clinic_id, cid,
                                               actor=member.actor(), now=now(request))
    except (ApiError, QualityError) as exc:
        return error_page(request, member, exc)
    return render(request, "quality/sample.html", member, clinic=clinic, conv=conv, tz=clinic.calendar.timezone)


# --- labeled test runs -----------------------------------------------------------------------------


def _has_candidate(clinic: ClinicSettings) -> bool:
    return bool(clinic.raw.get("lexicon_dirs"))


async def _runs_page(request: web.Request, member: StaffMember, *, error: str | None = None,
                     status: int = 200) -> web.Response:
    clinic = _clinic(request, member)
    runs = await testruns.list_runs(request.app[K.engine], member.clinic_id)
    return render(request, "quality/runs.html", member, status=status, clinic=clinic, runs=runs, error=error,
                  candidate=_has_candidate(clinic), max_mb=testruns.MAX_UPLOAD_BYTES // (1024 * 1024),
                  max_lines=testruns.MAX_LINES, tz=clinic.calendar.timezone)


@staff_page(roles=ADMIN_ROLES)
async def runs_page(request: web.Request, member: StaffMember) -> web.Response:
    return await _runs_page(request, member)


async def _read_upload(request: web.Request) -> tuple[dict[str, str], str | None, bytes]:
    """The form's fields and the file, reading no more than the upload limit."""
    limit = testruns.MAX_UPLOAD_BYTES
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise testruns.RunError(413, "file_too_large", f"The file is larger than {limit // (1024 * 1024)} MB.")
    if not request.content_type.startswith("multipart/form-data"):
        raise testruns.RunError(415, "unsupported_media_type", "Upload the file with the form (multipart/form-data).")
    fields: dict[str, str] = {}
    file_name: str | None = None
    data = b""
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise testruns.RunError(422, "invalid_form", "Nested multipart bodies are not accepted.")
        chunks = bytearray()
        while True:
            chunk = await part.read_chunk(64 * 1024)
            if not chunk:
                break
            chunks.extend(chunk)
            cap = limit if part.name == "file" else 4096
            if len(chunks) > cap:
                if part.name == "file":
                    raise testruns.RunError(413, "file_too_large",
                                            f"The file is larger than {limit // (1024 * 1024)} MB.")
                raise testruns.RunError(422, "invalid_form", "A form field is too long.")
        if part.name == "file":
            file_name, data = part.filename, bytes(chunks)
        elif part.name:
            fields[part.name] = chunks.decode("utf-8", "replace")
    return fields, file_name, data


async def create_run(request: web.Request) -> web.StreamResponse:
    """The upload form's target (multipart, the session's CSRF token in a form field): run, store, show."""
    member = await require_admin(request)
    # The staff pages' no-referrer policy makes a browser send "Origin: null" with a plain form POST;
    # that says nothing about the sender, so the session-bound token in the form decides (any other
    # Origin must still be ours). The session cookie is SameSite=Strict as well.
    if request.headers.get("Origin") != "null":
        check_origin(request)
    try:
        fields, file_name, data = await _read_upload(request)
        if not hmac.compare_digest(fields.get("csrf_token", ""), staff_csrf(request)):
            raise testruns.RunError(403, "csrf_failed", "The form has expired; reload the page and try again.")
        if not data:
            raise testruns.RunError(422, "no_file", "Choose a JSONL file to upload.")
        clinic = _clinic(request, member)
        lexicon = fields.get("lexicon", "live")
        dirs = testruns.lexicon_dirs(clinic, request.app[K.settings].clinic_file, lexicon)
        run_id = await testruns.execute(request.app[K.engine], request.app[K.keyring], clinic,
                                        clinic_id=member.clinic_id, kind=fields.get("kind", ""), file_name=file_name,
                                        data=data, lexicon=lexicon, dirs=dirs, actor_id=member.id, now=now(request))
    except testruns.RunError as exc:
        if "text/html" in request.headers.get("Accept", ""):
            return await _runs_page(request, member, error=exc.message, status=exc.status)
        return error_response(exc.status, exc.code, exc.message)
    raise web.HTTPSeeOther(f"/staff/quality/runs/{run_id}")


@staff_page(roles=ADMIN_ROLES)
async def run_page(request: web.Request, member: StaffMember) -> web.Response:
    clinic = _clinic(request, member)
    try:
        run_id = request.match_info["id"]
        if not _ID.match(run_id):
            raise ApiError(404, "not_found", "No such test run in this clinic.")
        run, lines, prev, prev_lines = await testruns.load_run(request.app[K.engine], request.app[K.keyring],
                                                               member.clinic_id, run_id, actor=member.actor(),
                                                               now=now(request))
    except (ApiError, testruns.RunError) as exc:
        return error_page(request, member, exc)
    return render(request, "quality/run.html", member, clinic=clinic, run=run, prev=prev, lines=lines,
                  diff=testruns.diff(lines, prev_lines), tz=clinic.calendar.timezone)


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(body=(STATIC_DIR / "quality.css").read_bytes(), content_type="text/css",
                        headers={"Cache-Control": "public, max-age=300"})


def setup_quality(app: web.Application) -> None:
    """After ``setup_staff_pages``: its templates get our filters, its nav our two links (admins only)."""
    add_filters(app[staff_templates_key])
    add_nav(app, "Quality", "/staff/quality", roles=ADMIN_ROLES)
    add_nav(app, "Test runs", "/staff/quality/runs", roles=ADMIN_ROLES)
    app.router.add_get("/staff/quality", dashboard)
    app.router.add_get("/staff/quality/export/{table}.csv", export_csv)
    app.router.add_get("/staff/quality/samples", samples)
    app.router.add_get("/staff/quality/samples/{id}", sample_transcript)
    app.router.add_get("/staff/quality/runs", runs_page)
    app.router.add_post("/staff/quality/runs", create_run)
    app.router.add_get("/staff/quality/runs/{id}", run_page)
    app.router.add_get("/staff/quality/quality.css", stylesheet)
    app.router.add_get("/api/v1/staff/quality/report", report_json)
