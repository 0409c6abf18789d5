"""HTTP routes for family members: the parent's side under ``/api/v1/family``, the care team's
under ``/api/v1/staff/family`` (behind the staff role guard of ``staff_web``). Same rules as the patient API (``web.py``): JSON bodies with
known fields, SPEC §6 errors, CSRF and Origin on cookie writes, no PHI in URLs (member,
link and provider ids are random UUIDs; the provider search term is a doctor's name)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ..family import END_REASONS
from ..staff.roster import StaffMember
from . import keys as K
from .staff_pages import _clinic, add_nav, add_queue_panel, render, staff_page
from .staff_web import require_staff
from .web import ApiError, now, read_json, require_session

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _id(request: web.Request, name: str, what: str) -> str:
    value = request.match_info[name]
    if not _ID.match(value):
        raise ApiError(404, "not_found", f"No such {what}.")
    return value


# --- the parent ---------------------------------------------------------------------------


async def family_overview(request: web.Request) -> web.Response:
    info = await require_session(request)
    return web.json_response(await request.app[K.family].overview(info.account_id, now=now(request)))


async def add_member(request: web.Request) -> web.Response:
    info = await require_session(request, write=True)
    data = await read_json(request, {"name": (str, True), "dob": (str, True)})
    member, created = await request.app[K.family].add_member(info.account_id, name=data["name"], dob=data["dob"],
                                                             now=now(request))
    return web.json_response(member, status=201 if created else 200)


async def search_providers(request: web.Request) -> web.Response:
    info = await require_session(request)
    query = request.query.get("q", "")
    return web.json_response(await request.app[K.family].search_providers(info.account_id, query))


async def request_link(request: web.Request) -> web.Response:
    info = await require_session(request, write=True)
    member = _id(request, "id", "family member")
    data = await read_json(request, {"provider_id": (str, True)})
    if not _ID.match(data["provider_id"]):
        raise ApiError(422, "unknown_provider", "Choose a doctor from the clinic's list.")
    body, changed = await request.app[K.family].request_link(info.account_id, member, data["provider_id"],
                                                             now=now(request))
    return web.json_response(body, status=202 if changed else 200)


# --- the care team -----------------------------------------------------------------------


async def staff_links(request: web.Request) -> web.Response:
    info = await require_staff(request)
    status = request.query.get("status", "pending")
    items = await request.app[K.family].staff_links(info, status=status, now=now(request))
    return web.json_response({"links": items})


async def _decide(request: web.Request, accept: bool) -> web.Response:
    info = await require_staff(request, write=True)
    link = _id(request, "id", "family link")
    await read_json(request, {}, allow_empty=True)
    item, _ = await request.app[K.family].decide(info, link, accept=accept, now=now(request))
    _wake(request)
    return web.json_response(item)


async def accept_link(request: web.Request) -> web.Response:
    return await _decide(request, True)


async def decline_link(request: web.Request) -> web.Response:
    return await _decide(request, False)


async def end_link(request: web.Request) -> web.Response:
    info = await require_staff(request, write=True)
    link = _id(request, "id", "family link")
    data = await read_json(request, {"reason": (str, True), "note": (str, False)})
    item, _ = await request.app[K.family].end(info, link, reason=data["reason"], note=data.get("note"),
                                              now=now(request))
    _wake(request)
    return web.json_response(item)


def _wake(request: web.Request) -> None:
    sender = request.app.get(K.sender)
    if sender is not None:
        sender.wake()


# --- the care team's page --------------------------------------------------------------------


@staff_page()
async def family_page(request: web.Request, member: StaffMember) -> web.Response:
    """Pending requests (accept, decline) and live links (end, with a reason) of the member's teams."""
    family = request.app[K.family]
    at = now(request)
    clinic = _clinic(request, member)
    return render(request, "staff/family.html", member,
                  pending={"links": await family.staff_links(member, status="pending", now=at),
                           "acceptance": str(clinic.family.link_acceptance)},
                  family_accepted=await family.staff_links(member, status="accepted", now=at),
                  age_limit=clinic.family.proxy_age_limit, end_reasons=END_REASONS)


async def queue_panel(request: web.Request, member: StaffMember) -> dict[str, Any]:
    """The member's teams' pending link requests, above the queue (``add_queue_panel``)."""
    clinic = _clinic(request, member)
    return {"links": await request.app[K.family].staff_links(member, status="pending", now=now(request)),
            "acceptance": str(clinic.family.link_acceptance)}


def setup_family_routes(app: web.Application) -> None:
    """After ``setup_staff_pages`` (the staff nav)."""
    app.router.add_get("/api/v1/family", family_overview)
    app.router.add_post("/api/v1/family/members", add_member)
    app.router.add_get("/api/v1/family/providers", search_providers)
    app.router.add_post("/api/v1/family/members/{id}/link", request_link)
    app.router.add_get("/api/v1/staff/family/links", staff_links)
    app.router.add_post("/api/v1/staff/family/links/{id}/accept", accept_link)
    app.router.add_post("/api/v1/staff/family/links/{id}/decline", decline_link)
    app.router.add_post("/api/v1/staff/family/links/{id}/end", end_link)
    app.router.add_get("/staff/family", family_page)
    add_nav(app, "Family links", "/staff/family")
    add_queue_panel(app, "staff/family_pending.html", queue_panel)
