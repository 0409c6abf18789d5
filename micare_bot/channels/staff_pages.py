"""The staff pages: server-rendered jinja2 (``templates/staff/``) with a little JavaScript.

Pages use the JSON API (``staff_web.py``) for every action, through
``/staff/static/staff.js`` which adds the CSRF token from the page's
``<meta name="csrf-token">``. The same strict Content-Security-Policy as the
widget: scripts and styles only from this origin, no inline script, nothing
external, no framing.

For other modules:

* :func:`render` renders a template extending ``staff/base.html`` with the nav,
  the signed-in member and the CSRF token;
* :func:`staff_page` wraps a page handler: it runs the role guard and sends a
  signed-out browser to ``/staff/login`` instead of a JSON 401;
* :func:`add_nav` adds a link to the nav (optionally for some roles only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from ..staff.queue import INTENT_FIELDS, QueueError
from ..staff.roster import ROLE_LABELS, STAFF_ROLES, StaffMember, clinic_staff, teams_overview
from ..store import db
from . import keys as K
from .staff_web import patient_messages_key, require_staff, staff_csrf, staff_queue_key
from .web import ApiError
from .widget import page

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static" / "staff"
ASSETS: Mapping[str, str] = {
    "staff.css": "text/css", "staff.js": "text/javascript", "login.js": "text/javascript",
    "queue.js": "text/javascript", "request.js": "text/javascript", "teams.js": "text/javascript",
    "admin.js": "text/javascript", "message.js": "text/javascript",
}

INTENT_LABELS = {"appointment": "Appointment", "refill": "Medication refill", "results": "Test results",
                 "immunization_copy": "Immunization record", "symptom": "Symptom question",
                 "other": "Message to the team"}
STATUS_LABELS = {"open": "Open", "claimed": "Claimed", "closed": "Done"}
FIELD_LABELS = {"reason": "Reason", "preferred_time": "Preferred time", "visit_type": "Visit type",
                "medication": "Medication", "pharmacy": "Pharmacy", "test": "Test", "test_date": "Test date",
                "purpose": "Purpose", "delivery": "Delivery", "symptom": "Symptom", "onset": "Since",
                "severity": "Severity", "self_care": "Tried so far", "message": "Message", "patient": "Patient"}
TRIAGE_LABELS = {"routine": "Routine: no urgent sign found", "same_day": "Same day", "emergency": "Emergency",
                 "crisis": "Crisis", "poison": "Poison"}


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    roles: tuple[str, ...] | None = None


staff_nav_key = web.AppKey("staff_nav", list)
staff_templates_key = web.AppKey("staff_templates", jinja2.Environment)

PageHandler = Callable[[web.Request, StaffMember], Awaitable[web.StreamResponse]]


def add_nav(app: web.Application, label: str, href: str, roles: Iterable[str] | None = None) -> None:
    """A link in every staff page's nav (``roles``: only for these roles)."""
    app[staff_nav_key].append(NavItem(label, href, tuple(roles) if roles is not None else None))


def _environment(directory: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(directory)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


def _clinic(request: web.Request, member: StaffMember | None) -> Any:
    clinics = request.app[K.gateway].clinics
    if member is not None and member.clinic_id in clinics:
        return clinics[member.clinic_id]
    return next(iter(clinics.values()), None)


def render(request: web.Request, template: str, member: StaffMember | None, *, status: int = 200,
           **context: Any) -> web.Response:
    """A staff page from ``templates/<template>`` (which extends ``staff/base.html``)."""
    app = request.app
    clinic = _clinic(request, member)
    zone = clinic.calendar.timezone if clinic is not None else ZoneInfo("UTC")
    env = app[staff_templates_key].overlay()
    env.filters["localtime"] = lambda iso: _localtime(iso, zone)
    nav = [{"label": n.label, "href": n.href, "current": request.path == n.href}
           for n in app[staff_nav_key] if member is not None and (n.roles is None or member.role in n.roles)]
    body = env.get_template(template).render(
        staff=member, csrf=staff_csrf(request) if member is not None else "", nav=nav,
        role_label=ROLE_LABELS.get(member.role, member.role) if member else "",
        clinic_name=clinic.name if clinic is not None else "Clinic",
        idle_seconds=app[K.settings].staff_session_idle_seconds,
        intent_labels=INTENT_LABELS, status_labels=STATUS_LABELS, field_labels=FIELD_LABELS,
        triage_labels=TRIAGE_LABELS, **context)
    response = page(request, body)
    response.set_status(status)
    return response


def _localtime(iso: str | None, zone: ZoneInfo) -> str:
    if not iso:
        return ""
    when = datetime.fromisoformat(iso).astimezone(zone)
    return when.strftime("%a %b %d, %I:%M %p %Z").replace(" 0", " ")


def staff_page(roles: Iterable[str] | None = None) -> Callable[[PageHandler], Callable[[web.Request],
                                                                                        Awaitable[web.StreamResponse]]]:
    """Decorator for page handlers: the role guard, a redirect to sign-in, errors as pages."""
    allowed = tuple(roles) if roles is not None else None

    def decorate(handler: PageHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                member = await require_staff(request)
            except ApiError as exc:
                if exc.status == 401:
                    expired = "1" if request.cookies.get("micare_staff") else ""
                    raise web.HTTPFound("/staff/login" + ("?expired=1" if expired else "")) from None
                raise
            if allowed is not None and member.role not in allowed:
                return render(request, "staff/error.html", member, status=403, heading="Not for your role",
                              message="This page is for clinic administrators.")
            try:
                return await handler(request, member)
            except QueueError as exc:
                heading = "Not found" if exc.status == 404 else "That did not work"
                return render(request, "staff/error.html", member, status=exc.status, heading=heading,
                              message=exc.message)

        wrapped.__name__ = handler.__name__
        return wrapped

    return decorate


# --- pages ----------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    return render(request, "staff/login.html", None, expired=request.query.get("expired") == "1")


async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/staff/queue")


@staff_page()
async def queue_page(request: web.Request, member: StaffMember) -> web.Response:
    q = request.query
    filters = {k: (q.get(k) or None) for k in ("intent", "team", "status", "assignee")}
    try:
        body = await request.app[staff_queue_key].list(member, now=request.app[K.clock](), **filters)
    except QueueError:
        filters = dict.fromkeys(filters)  # a hand-edited URL: show the unfiltered queue
        body = await request.app[staff_queue_key].list(member, now=request.app[K.clock]())
    async with db.read(request.app[K.engine]) as conn:
        teams = await teams_overview(conn, request.app[K.keyring], member, request.app[K.clock]())
        staff_list = await clinic_staff(conn, request.app[K.keyring], member.clinic_id)
    visible = [t for t in teams if member.is_admin or t["member"] or t["covering"]]
    return render(request, "staff/queue.html", member, requests=body["requests"], counts=body["counts"],
                  due=body["due"], filters=filters, keep={k: v for k, v in filters.items() if v},
                  teams=visible, staff_list=[s for s in staff_list if s["status"] == "active"],
                  can_claim_next=bool(member.inbox_teams))


@staff_page()
async def request_page(request: web.Request, member: StaffMember) -> web.Response:
    from .staff_web import request_id

    try:
        rid = request_id(request)
    except ApiError:
        raise QueueError(404, "not_found", "No such request in your queue.") from None
    item = await request.app[staff_queue_key].detail(member, rid, now=request.app[K.clock]())
    async with db.read(request.app[K.engine]) as conn:
        teams = await teams_overview(conn, request.app[K.keyring], member, request.app[K.clock]())
    return render(request, "staff/request.html", member, r=item, teams=teams,
                  intents=list(INTENT_FIELDS), asked_choices=item["askable_fields"])


@staff_page()
async def teams_page(request: web.Request, member: StaffMember) -> web.Response:
    now = request.app[K.clock]()
    async with db.read(request.app[K.engine]) as conn:
        teams = await teams_overview(conn, request.app[K.keyring], member, now)
        staff_list = await clinic_staff(conn, request.app[K.keyring], member.clinic_id)
    return render(request, "staff/teams.html", member, teams=teams,
                  staff_list=[s for s in staff_list if s["status"] == "active" and s["id"] != member.id],
                  role_labels=ROLE_LABELS)


@staff_page(roles=("admin",))
async def admin_staff_page(request: web.Request, member: StaffMember) -> web.Response:
    now = request.app[K.clock]()
    async with db.read(request.app[K.engine]) as conn:
        teams = await teams_overview(conn, request.app[K.keyring], member, now)
        staff_list = await clinic_staff(conn, request.app[K.keyring], member.clinic_id)
    return render(request, "staff/admin_staff.html", member, teams=teams, staff_list=staff_list,
                  role_labels=ROLE_LABELS)


@staff_page(roles=STAFF_ROLES)
async def patients_page(request: web.Request, member: StaffMember) -> web.Response:
    q = request.query.get("q", "").strip()
    patients: list[dict[str, Any]] = []
    error = None
    if q:
        try:
            patients = await request.app[patient_messages_key].search(member, q, now=request.app[K.clock]())
        except QueueError as exc:
            error = exc.message
    return render(request, "staff/patients.html", member, q=q, patients=patients, error=error)


@staff_page(roles=STAFF_ROLES)
async def patient_page(request: web.Request, member: StaffMember) -> web.Response:
    from .staff_web import _patient_id

    try:
        pid = _patient_id(request)
    except ApiError:
        raise QueueError(404, "not_found", "No such patient in your clinic.") from None
    p = await request.app[patient_messages_key].patient(member, pid, now=request.app[K.clock]())
    return render(request, "staff/patient.html", member, p=p)


class StaffAssets:
    """The staff pages' files, read once at start-up (no file path ever comes from a request)."""

    def __init__(self, directory: Path) -> None:
        self.files = {name: (directory / name).read_bytes() for name in ASSETS if (directory / name).exists()}


staff_assets_key = web.AppKey("staff_assets", StaffAssets)


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    files = request.app[staff_assets_key].files
    if name not in files:
        raise web.HTTPNotFound()
    return web.Response(body=files[name], content_type=ASSETS[name], charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


def setup_staff_pages(app: web.Application) -> None:
    app[staff_templates_key] = _environment(TEMPLATES_DIR)
    app[staff_assets_key] = StaffAssets(STATIC_DIR)
    app[staff_nav_key] = []
    add_nav(app, "Queue", "/staff/queue")
    add_nav(app, "Message a patient", "/staff/patients", roles=STAFF_ROLES)
    add_nav(app, "Teams and cover", "/staff/teams")
    add_nav(app, "Staff accounts", "/staff/admin/staff", roles=("admin",))
    r = app.router
    r.add_get("/staff", home)
    r.add_get("/staff/login", login_page)
    r.add_get("/staff/queue", queue_page)
    r.add_get("/staff/requests/{id}", request_page)
    r.add_get("/staff/teams", teams_page)
    r.add_get("/staff/admin/staff", admin_staff_page)
    r.add_get("/staff/patients", patients_page)
    r.add_get("/staff/patients/{id}", patient_page)
    r.add_get("/staff/static/{name}", asset)
