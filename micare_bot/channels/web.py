"""The patient API (SPEC §6) and its WebSocket, on aiohttp.

Rules every handler follows:

* errors are ``{"error": {"code", "message"}}`` with a 4xx status; an
  unexpected exception becomes a 500 with the same shape and a log line naming
  only the exception type and the route — never a stack trace to the client,
  never request text in the log;
* request bodies are JSON objects with known fields of known types (unknown
  fields, wrong types and invalid JSON are 4xx), no larger than
  ``max_body_bytes``; chat text no longer than ``max_text_chars``;
* cookie-authenticated writes carry the session's CSRF token in
  ``X-CSRF-Token`` and, when the browser sends ``Origin``, it must be ours;
  the WebSocket handshake checks ``Origin`` too;
* ids in URLs are random; nothing about a patient is ever in a URL.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import traceback
from datetime import datetime
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractAccessLogger

from .. import accounts
from ..accounts import AccountError, SessionInfo
from ..gateway import GatewayError
from ..store import db
from . import keys as K

log = logging.getLogger(__name__)

COOKIE = "micare_session"
CSRF_HEADER = "X-CSRF-Token"
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TURN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
                 422: "invalid_request", 429: "too_many_requests"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "(no route)"


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                           ) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except GatewayError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except AccountError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return error_response(exc.status, exc.code, exc.message, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "error")
        message = "The request body is too large." if exc.status == 413 else (exc.reason or "Request failed.")
        return error_response(exc.status, code, message)
    except Exception as exc:
        # frames only: an exception's message could quote patient text
        frames = "".join(traceback.format_tb(exc.__traceback__)[-3:])
        log.error("unhandled %s in %s %s\n%s", type(exc).__name__, request.method, _route(request), frames)
        return error_response(500, "internal", "Something went wrong on our side. Please try again.")


@web.middleware
async def headers_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                             ) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


class AccessLogger(AbstractAccessLogger):
    """Method, route template, status and time: no ids, tokens or query strings."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        route = _route(request) if isinstance(request, web.Request) else "?"
        self.logger.info("%s %s %s %.1fms", request.method, route, response.status, time * 1000)


# --- request parsing -------------------------------------------------------------

Spec = Mapping[str, tuple[type, bool]]  # field -> (type, required)


def validate(data: Any, spec: Spec) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_request", "The body must be a JSON object.")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise ApiError(422, "unknown_field", f"Unknown field: {unknown[0][:40]}.")
    for name, (kind, required) in spec.items():
        if name not in data:
            if required:
                raise ApiError(422, "missing_field", f"The field '{name}' is required.")
            continue
        value = data[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ApiError(422, "invalid_field", f"The field '{name}' must be {kind.__name__}.")
    return data


async def read_json(request: web.Request, spec: Spec, *, allow_empty: bool = False) -> dict[str, Any]:
    limit = request.app[K.settings].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", "The request body is too large.")
    raw = await request.read()  # aiohttp stops at client_max_size (413)
    if not raw.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "invalid_json", "The body must be JSON.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    return validate(data, spec)


def check_turn(data: Mapping[str, Any], max_chars: int) -> tuple[str, str]:
    text = data["text"].strip()
    if not text:
        raise ApiError(422, "empty_text", "Type a message first.")
    if len(text) > max_chars:
        raise ApiError(422, "text_too_long", f"Keep messages under {max_chars} characters.")
    turn_id = data["client_turn_id"]
    if not _TURN_ID.match(turn_id):
        raise ApiError(422, "invalid_field", "client_turn_id must be 1-64 letters, digits, '-' or '_'.")
    return text, turn_id


TURN_SPEC: Spec = {"text": (str, True), "client_turn_id": (str, True)}


# --- sessions and CSRF -------------------------------------------------------------


def now(request: web.Request) -> datetime:
    return request.app[K.clock]()


def client_address(request: web.Request) -> str:
    if request.app[K.settings].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


def check_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        return
    allowed = {request.app[K.settings].origin, f"{request.scheme}://{request.host}"}
    if origin not in allowed:
        raise ApiError(403, "bad_origin", "Cross-site requests are not allowed.")


async def require_session(request: web.Request, *, write: bool = False) -> SessionInfo:
    app = request.app
    info = await accounts.authenticate(app[K.engine], app[K.settings], request.cookies.get(COOKIE), now=now(request))
    if info is None:
        raise ApiError(401, "unauthenticated", "Please sign in.")
    if info.role != "patient":
        raise ApiError(403, "forbidden", "This is the patient API.")
    if write:
        check_origin(request)
        expected = accounts.csrf_for(app[K.keyring], info.token)
        if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), expected):
            raise ApiError(403, "csrf_failed", "Missing or wrong X-CSRF-Token header.")
    return info


def conversation_id(request: web.Request) -> str:
    cid = request.match_info["id"]
    if not _ID.match(cid):
        raise ApiError(404, "not_found", "No such conversation.")
    return cid


# --- handlers ------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        await db.ping(request.app[K.engine])
    except Exception as exc:
        log.warning("readiness: database unreachable (%s)", type(exc).__name__)
        return error_response(503, "database_unavailable", "The database is not reachable.")
    return web.json_response({"status": "ready"})


async def login(request: web.Request) -> web.Response:
    check_origin(request)
    data = await read_json(request, {"email": (str, True), "password": (str, True)})
    if len(data["email"]) > 320 or len(data["password"]) > accounts.MAX_PASSWORD:
        raise ApiError(422, "invalid_field", "E-mail or password too long.")
    app = request.app
    result = await accounts.login(app[K.engine], app[K.keyring], app[K.settings], email=data["email"],
                                  password=data["password"], address=client_address(request), now=now(request))
    settings = app[K.settings]
    response = web.json_response({"account_id": result.account_id, "csrf_token": result.csrf})
    response.set_cookie(COOKIE, result.token, httponly=True, samesite="Strict", secure=settings.cookie_secure,
                        path="/", max_age=settings.session_absolute_seconds)
    return response


async def session_info(request: web.Request) -> web.Response:
    info = await require_session(request)
    return web.json_response({"account_id": info.account_id,
                              "csrf_token": accounts.csrf_for(request.app[K.keyring], info.token),
                              "expires_at": info.expires_at.isoformat()})


async def logout(request: web.Request) -> web.Response:
    info = await require_session(request, write=True)
    await accounts.logout(request.app[K.engine], info.token, now=now(request))
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


async def accept_invitation(request: web.Request) -> web.Response:
    check_origin(request)
    data = await read_json(request, {"password": (str, True), "accept_terms": (bool, True)})
    if data["accept_terms"] is not True:
        raise ApiError(422, "terms_required", "Accept the terms of use to continue.")
    token = request.match_info["token"]
    if len(token) > 200:
        raise ApiError(404, "invitation_invalid", "This invitation link is not valid.")
    await accounts.accept_invitation(request.app[K.engine], token, data["password"], now=now(request))
    return web.json_response({"status": "active"})


async def start_conversation(request: web.Request) -> web.Response:
    info = await require_session(request, write=True)
    data = await read_json(request, {"patient": (str, False)}, allow_empty=True)
    body = await request.app[K.gateway].start(info.account_id, dependent=data.get("patient"), now=now(request))
    return web.json_response(body, status=201)


async def post_turn(request: web.Request) -> web.Response:
    info = await require_session(request, write=True)
    cid = conversation_id(request)
    text, turn_id = check_turn(await read_json(request, TURN_SPEC), request.app[K.settings].max_text_chars)
    return web.json_response(await _turn(request.app, info, cid, text, turn_id, now(request)))


async def _turn(app: web.Application, info: SessionInfo, cid: str, text: str, turn_id: str,
                at: datetime) -> dict[str, Any]:
    body = await app[K.gateway].turn(info.account_id, cid, text=text, client_turn_id=turn_id, now=at)
    if body.get("request_id"):
        sender = app.get(K.sender)
        if sender is not None:
            sender.wake()
    return body


async def get_conversation(request: web.Request) -> web.Response:
    info = await require_session(request)
    cid = conversation_id(request)
    return web.json_response(await request.app[K.gateway].transcript(info.account_id, cid, now=now(request)))


async def inbox(request: web.Request) -> web.Response:
    info = await require_session(request)
    return web.json_response(await request.app[K.gateway].inbox(info.account_id, now=now(request)))


async def websocket(request: web.Request) -> web.StreamResponse:
    info = await require_session(request)
    check_origin(request)  # a browser always sends Origin on a WebSocket handshake
    cid = conversation_id(request)
    app = request.app
    await app[K.gateway].check_owner(info.account_id, cid, now=now(request))
    settings = app[K.settings]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=settings.max_body_bytes)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            if msg.type == WSMsgType.BINARY:
                await ws.send_json({"error": {"code": "invalid_json", "message": "Send JSON text frames."}})
            continue
        try:
            live = await accounts.authenticate(app[K.engine], settings, info.token, now=now(request))
            if live is None:
                await ws.send_json({"error": {"code": "unauthenticated", "message": "Please sign in again."}})
                await ws.close(code=4401)
                break
            try:
                data = json.loads(msg.data)
            except ValueError:
                raise ApiError(400, "invalid_json", "The message is not valid JSON.") from None
            text, turn_id = check_turn(validate(data, TURN_SPEC), settings.max_text_chars)
            await ws.send_json(await _turn(app, info, cid, text, turn_id, now(request)))
        except (ApiError, GatewayError) as exc:
            await ws.send_json({"error": {"code": exc.code, "message": exc.message}})
        except Exception as exc:
            log.error("unhandled %s in websocket turn", type(exc).__name__)
            await ws.send_json({"error": {"code": "internal", "message": "Something went wrong on our side."}})
    return ws


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/api/v1/session", login)
    app.router.add_get("/api/v1/session", session_info)
    app.router.add_delete("/api/v1/session", logout)
    app.router.add_post("/api/v1/invitations/{token}/accept", accept_invitation)
    app.router.add_post("/api/v1/conversations", start_conversation)
    app.router.add_post("/api/v1/conversations/{id}/turns", post_turn)
    app.router.add_get("/api/v1/conversations/{id}", get_conversation)
    app.router.add_get("/api/v1/conversations/{id}/ws", websocket)
    app.router.add_get("/api/v1/messages", inbox)
