"""The staff side over HTTP: sign-in, the role guard, and the queue's JSON API under ``/api/v1/staff/``.

Same rules as the patient API (``web.py``): SPEC §6 error shape, JSON bodies
with known fields, CSRF header plus ``Origin`` check on cookie-authenticated
writes, random ids only in URLs. Staff have their own cookie (``micare_staff``),
so a patient session opens no staff route and a staff session no patient route.

Other modules reuse :func:`require_staff` (the role guard) and the page layout
``templates/staff/base.html`` (see ``staff_pages.py``).
"""

from __future__ import annotations

import asyncio
import hmac
import re
from datetime import datetime
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

from aiohttp import web
from sqlalchemy import select

from ..accounts import AccountError
from ..staff import auth as staff_auth
from ..staff.canned import CannedReplies
from ..staff.escalation import Escalator
from ..staff.messages import PatientMessages
from ..staff.queue import QueueError, StaffQueue
from ..staff.roster import (
    ROLES,
    STAFF_ROLES,
    StaffMember,
    add_staff,
    clinic_staff,
    grant_cover,
    load_member,
    revoke_cover,
    teams_overview,
)
from ..store import db
from ..store.clinics import ClinicRow, clinic_by_slug
from ..store.schema import CareTeam, Clinic
from . import keys as K
from .web import ApiError, Spec, check_origin, client_address, error_response, now, read_json

STAFF_COOKIE = "micare_staff"
CSRF_HEADER = "X-CSRF-Token"
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ACTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

staff_queue_key = web.AppKey("staff_queue", StaffQueue)
patient_messages_key = web.AppKey("patient_messages", PatientMessages)
# per-request cache of the guard's answer (typed keys on aiohttp >= 3.13, plain strings before)
_RequestKey: Any = getattr(web, "RequestKey", None)
member_key: Any = _RequestKey("staff_member", StaffMember) if _RequestKey else "staff_member"
token_key: Any = _RequestKey("staff_token", str) if _RequestKey else "staff_token"
canned_key = web.AppKey("canned_replies", CannedReplies)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- the role guard -----------------------------------------------------------------


async def require_staff(request: web.Request, roles: Iterable[str] | None = None, *,
                        write: bool = False) -> StaffMember:
    """The signed-in staff member (id, clinic, role, teams, cover), or a 401/403 ``ApiError``.

    ``roles``: allowed roles (e.g. ``("admin",)``); None lets any staff role in. ``write=True``
    checks the CSRF header and ``Origin`` (every state-changing request must pass it).
    """
    app = request.app
    cached = request.get(member_key)
    if cached is None:
        token = request.cookies.get(STAFF_COOKIE)
        account_id = await staff_auth.authenticate(app[K.engine], app[K.settings], token, now=now(request))
        member = None
        if account_id is not None:
            async with db.read(app[K.engine]) as conn:
                member = await load_member(conn, app[K.keyring], account_id, now(request))
        if member is None:
            raise ApiError(401, "unauthenticated", "Please sign in as staff.")
        request[member_key] = cached = member
        request[token_key] = token
    if roles is not None and cached.role not in set(roles):
        raise ApiError(403, "forbidden", "Your role does not allow this.")
    if write:
        check_origin(request)
        expected = staff_auth.csrf_for(app[K.keyring], request[token_key])
        if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), expected):
            raise ApiError(403, "csrf_failed", "Missing or wrong X-CSRF-Token header.")
    return cached


def staff_csrf(request: web.Request) -> str:
    """The CSRF token of the current staff session (after ``require_staff``), for pages."""
    return staff_auth.csrf_for(request.app[K.keyring], request[token_key])


def api(handler: Handler) -> Handler:
    """Queue errors become SPEC §6 error answers."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except QueueError as exc:
            return error_response(exc.status, exc.code, exc.message)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def request_id(request: web.Request) -> str:
    rid = request.match_info["id"]
    if not _ID.match(rid):
        raise ApiError(404, "not_found", "No such request in your queue.")
    return rid


def _action_id(data: dict[str, Any]) -> str | None:
    value = data.get("client_action_id")
    if value is not None and not _ACTION_ID.match(value):
        raise ApiError(422, "invalid_field", "client_action_id must be 1-64 letters, digits, '-' or '_'.")
    return value


def _when(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "invalid_field", f"The field '{name}' must be an ISO date-time.") from None
    if parsed.tzinfo is None:
        raise ApiError(422, "invalid_field", f"The field '{name}' needs a time zone offset.")
    return parsed


# --- session --------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    check_origin(request)
    data = await read_json(request, {"email": (str, True), "password": (str, True)})
    if len(data["email"]) > 320 or len(data["password"]) > 256:
        raise ApiError(422, "invalid_field", "E-mail or password too long.")
    app = request.app
    result = await staff_auth.login(app[K.engine], app[K.keyring], app[K.settings], email=data["email"],
                                    password=data["password"], address=client_address(request), now=now(request))
    async with db.read(app[K.engine]) as conn:
        member = await load_member(conn, app[K.keyring], result.account_id, now(request))
    assert member is not None  # login checked it is active staff
    settings = app[K.settings]
    response = web.json_response({"staff": member.public(), "csrf_token": result.csrf,
                                  "idle_seconds": settings.staff_session_idle_seconds})
    response.set_cookie(STAFF_COOKIE, result.token, httponly=True, samesite="Strict", secure=settings.cookie_secure,
                        path="/", max_age=settings.staff_session_absolute_seconds)
    return response


async def session_info(request: web.Request) -> web.Response:
    member = await require_staff(request)
    return web.json_response({"staff": member.public(), "csrf_token": staff_csrf(request),
                              "idle_seconds": request.app[K.settings].staff_session_idle_seconds})


async def logout(request: web.Request) -> web.Response:
    await require_staff(request, write=True)
    await staff_auth.logout(request.app[K.engine], request[token_key], now=now(request))
    response = web.Response(status=204)
    response.del_cookie(STAFF_COOKIE, path="/")
    return response


# --- the queue ---------------------------------------------------------------------------


@api
async def list_requests(request: web.Request) -> web.Response:
    member = await require_staff(request)
    q = request.query
    unknown = set(q) - {"intent", "team", "status", "assignee"}
    if unknown:
        raise ApiError(422, "invalid_filter", f"Unknown filter: {sorted(unknown)[0][:40]}.")
    status = q.get("status") or None
    body = await request.app[staff_queue_key].list(
        member, now=now(request), intent=q.get("intent") or None, team=q.get("team") or None,
        status=None if status == "active" else status, assignee=q.get("assignee") or None)
    return web.json_response(body)


@api
async def get_request(request: web.Request) -> web.Response:
    member = await require_staff(request)
    return web.json_response(await request.app[staff_queue_key].detail(member, request_id(request), now=now(request)))


@api
async def get_transcript(request: web.Request) -> web.Response:
    member = await require_staff(request)
    return web.json_response(await request.app[staff_queue_key].transcript(member, request_id(request),
                                                                          now=now(request)))


@api
async def get_fhir(request: web.Request) -> web.Response:
    """``?as=communication`` for a Communication; a Task otherwise."""
    member = await require_staff(request)
    body = await request.app[staff_queue_key].fhir(member, request_id(request), now=now(request),
                                                   kind=request.query.get("as", "task"))
    return web.json_response(body, content_type="application/fhir+json")


@api
async def get_canned(request: web.Request) -> web.Response:
    """A canned reply rendered for this request, for the reply box to edit before sending."""
    member = await require_staff(request)
    canned_id = request.query.get("id", "")
    text = await request.app[staff_queue_key].render_canned(member, request_id(request), canned_id,
                                                            now=now(request))
    return web.json_response({"id": canned_id, "text": text})


@api
async def claim(request: web.Request) -> web.Response:
    member = await require_staff(request, write=True)
    await read_json(request, {}, allow_empty=True)
    return web.json_response(await request.app[staff_queue_key].claim(member, request_id(request), now=now(request)))


@api
async def claim_next(request: web.Request) -> web.Response:
    member = await require_staff(request, write=True)
    data = await read_json(request, {"team": (str, False), "intent": (str, False)}, allow_empty=True)
    body = await request.app[staff_queue_key].claim_next(member, now=now(request), team=data.get("team"),
                                                         intent=data.get("intent"))
    if body is None:
        return error_response(404, "queue_empty", "No open request is waiting in your teams' queues.")
    return web.json_response(body)


@api
async def release(request: web.Request) -> web.Response:
    member = await require_staff(request, write=True)
    await read_json(request, {}, allow_empty=True)
    return web.json_response(await request.app[staff_queue_key].release(member, request_id(request),
                                                                        now=now(request)))


REPLY_SPEC: Spec = {"text": (str, False), "canned": (str, False), "asked_fields": (list, False),
                    "close": (bool, False), "client_action_id": (str, False)}


@api
async def reply(request: web.Request) -> web.Response:
    member = await require_staff(request, write=True)
    data = await read_json(request, REPLY_SPEC)
    asked = data.get("asked_fields", [])
    if not all(isinstance(f, str) for f in asked) or len(asked) > 20:
        raise ApiError(422, "invalid_field", "asked_fields must be a list of field names.")
    body = await request.app[staff_queue_key].reply(
        member, request_id(request), now=now(request), text=data.get("text"), canned=data.get("canned"),
        asked_fields=asked, close=data.get("close", False), client_action_id=_action_id(data))
    _wake_sender(request)
    return web.json_response(body, status=200 if body["repeated"] else 201)


@api
async def reroute(request: web.Request) -> web.Response:
    member = await require_staff(request, write=True)
    data = await read_json(request, {"team": (str, True)})
    body = await request.app[staff_queue_key].reroute(member, request_id(request), data["team"], now=now(request))
    _wake_sender(request)
    return web.json_response(body)


@api
async def relabel(request: web.Request) -> web.Response:
    member = await require_staff(request, write=True)
    data = await read_json(request, {"intent": (str, True)})
    return web.json_response(await request.app[staff_queue_key].relabel(member, request_id(request),
                                                                        data["intent"], now=now(request)))


@api
async def done(request: web.Request) -> web.Response:
    member = await require_staff(request, write=True)
    await read_json(request, {}, allow_empty=True)
    return web.json_response(await request.app[staff_queue_key].done(member, request_id(request), now=now(request)))


def _wake_sender(request: web.Request) -> None:
    sender = request.app.get(K.sender)
    if sender is not None:
        sender.wake()


# --- provider-initiated messages and reminders --------------------------------------------


def _patient_id(request: web.Request) -> str:
    pid = request.match_info["id"]
    if not _ID.match(pid):
        raise ApiError(404, "not_found", "No such patient in your clinic.")
    return pid


@api
async def search_patients(request: web.Request) -> web.Response:
    member = await require_staff(request, roles=STAFF_ROLES)
    found = await request.app[patient_messages_key].search(member, request.query.get("q", ""), now=now(request))
    return web.json_response({"patients": found})


@api
async def get_patient(request: web.Request) -> web.Response:
    member = await require_staff(request, roles=STAFF_ROLES)
    return web.json_response(await request.app[patient_messages_key].patient(member, _patient_id(request),
                                                                             now=now(request)))


MESSAGE_SPEC: Spec = {"kind": (str, True), "text": (str, False), "dependent_id": (str, False),
                      "appointment_at": (str, False), "deliver_at": (str, False), "client_action_id": (str, False)}


@api
async def send_patient_message(request: web.Request) -> web.Response:
    """A message or an appointment reminder to a patient: their inbox and the no-PHI e-mail."""
    member = await require_staff(request, roles=STAFF_ROLES, write=True)
    data = await read_json(request, MESSAGE_SPEC)
    dependent = data.get("dependent_id")
    if dependent is not None and not _ID.match(dependent):
        raise ApiError(404, "not_found", "No such child linked to this patient.")
    body = await request.app[patient_messages_key].send(
        member, _patient_id(request), now=now(request), kind=data["kind"], text=data.get("text"),
        dependent_id=dependent,
        appointment_at=_when(data["appointment_at"], "appointment_at") if "appointment_at" in data else None,
        deliver_at=_when(data["deliver_at"], "deliver_at") if "deliver_at" in data else None,
        client_action_id=_action_id(data))
    _wake_sender(request)
    return web.json_response(body, status=200 if body["repeated"] else 201)


# --- teams and cover -------------------------------------------------------------------


async def list_teams(request: web.Request) -> web.Response:
    member = await require_staff(request)
    async with db.read(request.app[K.engine]) as conn:
        teams = await teams_overview(conn, request.app[K.keyring], member, now(request))
        staff = await clinic_staff(conn, request.app[K.keyring], member.clinic_id)
    return web.json_response({"teams": teams, "staff": staff, "me": member.public()})


async def add_cover(request: web.Request) -> web.Response:
    member = await require_staff(request, write=True)
    data = await read_json(request, {"staff_id": (str, True), "ends_at": (str, True), "starts_at": (str, False)})
    if not _ID.match(data["staff_id"]):
        raise ApiError(404, "unknown_staff", "No such staff member in your clinic.")
    current = now(request)
    starts = _when(data["starts_at"], "starts_at") if "starts_at" in data else current
    ends = _when(data["ends_at"], "ends_at")
    async with db.write(request.app[K.engine]) as conn:
        team = await _team(conn, member, request.match_info["slug"])
        cover_id = await grant_cover(conn, member, team_id=team, account_id=data["staff_id"], starts_at=starts,
                                     ends_at=ends, now=current)
    return web.json_response({"id": cover_id, "team": request.match_info["slug"], "staff_id": data["staff_id"],
                              "starts_at": starts.isoformat(), "ends_at": ends.isoformat()}, status=201)


async def end_cover(request: web.Request) -> web.Response:
    member = await require_staff(request, write=True)
    cover_id = request.match_info["id"]
    if not _ID.match(cover_id):
        raise ApiError(404, "not_found", "No such cover in your clinic.")
    async with db.write(request.app[K.engine]) as conn:
        await revoke_cover(conn, member, cover_id, now=now(request))
    return web.Response(status=204)


async def _team(conn: Any, member: StaffMember, slug: str) -> str:
    team = (await conn.execute(select(CareTeam.id).where(CareTeam.clinic_id == member.clinic_id,
                                                         CareTeam.slug == slug))).first()
    if team is None:
        raise AccountError("unknown_team", "The clinic has no such care team.", status=404)
    return str(team.id)


# --- staff accounts (admins) -----------------------------------------------------------------


async def add_staff_member(request: web.Request) -> web.Response:
    """An admin enrolls a staff member: the invitation goes out by e-mail (the link is not returned)."""
    member = await require_staff(request, roles=("admin",), write=True)
    data = await read_json(request, {"name": (str, True), "email": (str, True), "role": (str, True),
                                     "teams": (list, False), "title": (str, False)})
    if data["role"] not in ROLES:
        raise ApiError(422, "invalid_role", f"The role must be one of: {', '.join(ROLES)}.")
    teams = data.get("teams", [])
    if not all(isinstance(t, str) for t in teams):
        raise ApiError(422, "invalid_field", "teams must be a list of team slugs.")
    app = request.app
    async with db.read(app[K.engine]) as conn:
        slug = (await conn.execute(select(Clinic.slug).where(Clinic.id == member.clinic_id))).scalar_one()
        clinic: ClinicRow | None = await clinic_by_slug(conn, slug)
    assert clinic is not None
    enrollment = await add_staff(app[K.engine], app[K.keyring], app[K.settings], clinic, name=data["name"],
                                 email=data["email"], role=data["role"], teams=teams, title=data.get("title"),
                                 now=now(request), actor=member.actor())
    _wake_sender(request)
    return web.json_response({"id": enrollment.account_id, "status": "invited",
                              "invitation_expires_at": enrollment.expires_at.isoformat()}, status=201)


async def escalation_ctx(app: web.Application) -> AsyncIterator[None]:
    """The background task that escalates requests nearing or past due (see staff/escalation.py)."""
    sender = app.get(K.sender)
    escalator = Escalator(app[K.engine], app[K.keyring], app[K.settings], clock=app[K.clock],
                          on_mail=sender.wake if sender is not None else None)
    task = asyncio.create_task(escalator.run(), name="queue-escalation")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


# --- wiring --------------------------------------------------------------------------------


async def _start_queue(app: web.Application) -> None:
    """After the database context: the gateway knows the clinics by then."""
    gateway = app[K.gateway]
    app[staff_queue_key] = StaffQueue(app[K.engine], app[K.keyring], app[K.settings], gateway.clinics,
                                      app[canned_key])
    app[patient_messages_key] = PatientMessages(app[K.engine], app[K.keyring], app[K.settings], gateway.clinics)


def setup_staff_api(app: web.Application) -> None:
    app[canned_key] = CannedReplies()  # a broken canned reply stops start-up
    app.on_startup.append(_start_queue)
    r = app.router
    r.add_post("/api/v1/staff/session", login)
    r.add_get("/api/v1/staff/session", session_info)
    r.add_delete("/api/v1/staff/session", logout)
    r.add_get("/api/v1/staff/requests", list_requests)
    r.add_post("/api/v1/staff/requests/claim-next", claim_next)
    r.add_get("/api/v1/staff/requests/{id}", get_request)
    r.add_get("/api/v1/staff/requests/{id}/transcript", get_transcript)
    r.add_get("/api/v1/staff/requests/{id}/canned", get_canned)
    r.add_get("/api/v1/staff/requests/{id}/fhir", get_fhir)
    r.add_post("/api/v1/staff/requests/{id}/claim", claim)
    r.add_post("/api/v1/staff/requests/{id}/release", release)
    r.add_post("/api/v1/staff/requests/{id}/replies", reply)
    r.add_post("/api/v1/staff/requests/{id}/reroute", reroute)
    r.add_post("/api/v1/staff/requests/{id}/relabel", relabel)
    r.add_post("/api/v1/staff/requests/{id}/done", done)
    r.add_get("/api/v1/staff/teams", list_teams)
    r.add_post("/api/v1/staff/teams/{slug}/cover", add_cover)
    r.add_delete("/api/v1/staff/cover/{id}", end_cover)
    r.add_post("/api/v1/staff/members", add_staff_member)
    r.add_get("/api/v1/staff/patients", search_patients)
    r.add_get("/api/v1/staff/patients/{id}", get_patient)
    r.add_post("/api/v1/staff/patients/{id}/messages", send_patient_message)


__all__ = ["STAFF_COOKIE", "require_staff", "setup_staff_api", "staff_csrf", "staff_queue_key"]
