"""The patient chat widget: the one-tag loader, the chat panel, the invitation page and the demo page.

A clinic embeds ``<script src="GATEWAY/widget.js" data-clinic="SLUG" async></script>``.
The loader adds a launcher button that opens the panel (``/widget/panel``) in an
iframe served from the gateway, so the host page's scripts and styles cannot
reach what the patient types and the widget's styles cannot leak into the host.

Every widget page gets a strict Content-Security-Policy: scripts and styles only
from this origin (no inline script, no eval), connections only to this origin,
and ``frame-ancestors`` limited to the clinic's configured origins
(``widget_origins`` in the clinic settings file) for the panel, ``'none'`` for
the others. The pages are static; the scripts put every piece of text in with
``textContent``, never as HTML.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from aiohttp import web

from ..clinic_settings import ClinicSettings
from ..config import ConfigError
from . import keys as K

STATIC_DIR = Path(__file__).resolve().parents[1] / "static" / "widget"

# file name -> content type; nothing else under /widget/static is served
ASSETS: Mapping[str, str] = {
    "panel.js": "text/javascript",
    "panel.css": "text/css",
    "launcher.css": "text/css",
    "invite.js": "text/javascript",
    "demo.css": "text/css",
}
LOADER = "widget.js"

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_SLUG = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


@dataclass(frozen=True)
class WidgetClinic:
    """What the widget needs to know about one clinic (all of it public)."""

    slug: str
    name: str
    timezone: str
    origins: tuple[str, ...]  # host pages allowed to frame the panel, besides the gateway itself
    numbers: tuple[dict[str, str], ...]  # the numbers the redirect screen offers as tap-to-call links

    def public(self) -> dict[str, Any]:
        return {"slug": self.slug, "name": self.name, "timezone": self.timezone, "numbers": list(self.numbers)}


widget_clinics = web.AppKey("widget_clinics", dict[str, WidgetClinic])


def parse_origins(raw: Any, where: str) -> tuple[str, ...]:
    """``widget_origins`` from a clinic file: a list of ``scheme://host[:port]``, nothing more."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: 'widget_origins' must be a list of origins like https://www.clinic.example")
    origins = []
    for item in raw:
        value = str(item).strip().rstrip("/")
        if not _ORIGIN.match(value):
            raise ConfigError(f"{where}: widget_origins entry {str(item)[:80]!r} is not an origin "
                              "(scheme://host[:port], no path, no wildcard)")
        origins.append(value)
    return tuple(dict.fromkeys(origins))


def tel_href(number: str) -> str | None:
    """``tel:`` link for a number as a clinic writes it: ``"1-800-874-2273, option 1"`` → ``tel:18008742273``."""
    head = number.split(",", 1)[0]
    digits = re.sub(r"[^0-9+]", "", head)
    if not re.search(r"[0-9]{3}", digits):
        return None
    return "tel:" + digits


def numbers_of(clinic: ClinicSettings) -> tuple[dict[str, str], ...]:
    ctx = clinic.context
    entries = [
        ("emergency", "Emergency", ctx.emergency_number, "Call " + ctx.emergency_number),
        ("crisis", "Veterans/Military Crisis Line", ctx.crisis_line, "Call " + ctx.crisis_line),
        ("poison", "Poison Control", ctx.poison_control, "Call Poison Control, " + ctx.poison_control),
        ("nurse", "Nurse Advice Line", ctx.nurse_line, "Call the Nurse Advice Line, " + ctx.nurse_line),
        ("appointments", "Appointment line", ctx.appointment_line, "Call the appointment line, " + ctx.appointment_line),
    ]
    out = []
    for key, label, number, action in entries:
        href = tel_href(number)
        if href is not None:
            out.append({"key": key, "label": label, "number": number, "href": href, "action": action})
    crisis_text = ctx.crisis_text
    sms = re.sub(r"[^0-9]", "", crisis_text)
    if sms:
        out.append({"key": "crisis_text", "label": "Crisis Line by text", "number": crisis_text,
                    "href": "sms:" + sms, "action": "Text " + crisis_text})
    return tuple(out)


def widget_clinic(clinic: ClinicSettings) -> WidgetClinic:
    where = f"clinic {clinic.slug}"
    if not _SLUG.match(clinic.slug):
        raise ConfigError(f"{where}: the slug must be letters, digits, '-' or '_' to be used by the widget")
    return WidgetClinic(clinic.slug, clinic.name, clinic.timezone_name, parse_origins(clinic.raw.get("widget_origins"), where),
                        numbers_of(clinic))


async def _load_clinics(app: web.Application) -> None:
    """Runs after the database context: the gateway knows the configured clinics by then."""
    clinics = {c.slug: widget_clinic(c) for c in app[K.gateway].clinics.values()}
    app[widget_clinics] = clinics


# --- responses ------------------------------------------------------------------------


def _ws_origins(request: web.Request) -> list[str]:
    """The WebSocket forms of our own origin (some browsers do not let 'self' cover ws:)."""
    settings = request.app[K.settings]
    out = []
    base = urlsplit(settings.origin)
    out.append(("wss" if base.scheme == "https" else "ws") + "://" + base.netloc)
    host = request.host
    if _HOST.match(host):
        out.append(("wss" if request.scheme == "https" else "ws") + "://" + host)
    return list(dict.fromkeys(out))


def csp(request: web.Request, *, frame_ancestors: str, frame_src: str = "'none'") -> str:
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self' " + " ".join(_ws_origins(request)),
        "font-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        f"frame-src {frame_src}",
        f"frame-ancestors {frame_ancestors}",
    ])


def page(request: web.Request, body: str, *, frame_ancestors: str = "'none'", frame_src: str = "'none'"
         ) -> web.Response:
    headers = {"Content-Security-Policy": csp(request, frame_ancestors=frame_ancestors, frame_src=frame_src),
               "Cache-Control": "no-store"}
    if frame_ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers=headers)


def not_found_page(request: web.Request, message: str) -> web.Response:
    body = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title>"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"stylesheet\" href=\"/widget/static/panel.css\"></head>"
        f"<body><main class=\"page\"><h1>Not found</h1><p>{html.escape(message)}</p></main></body></html>"
    )
    response = page(request, body)
    response.set_status(404)
    return response


def _clinic(request: web.Request, slug: str | None) -> WidgetClinic | None:
    clinics = request.app[widget_clinics]
    if slug is None:
        return next(iter(clinics.values()), None)
    return clinics.get(slug) if slug and _SLUG.match(slug) else None


class Assets:
    """The widget's files, read once at start-up (no file path ever comes from a request)."""

    def __init__(self, directory: Path) -> None:
        self.files: dict[str, bytes] = {}
        for name in (*ASSETS, LOADER, "panel.html", "invite.html", "demo.html"):
            self.files[name] = (directory / name).read_bytes()

    def text(self, name: str) -> str:
        return self.files[name].decode("utf-8")


widget_assets = web.AppKey("widget_assets", Assets)


def _render(template: str, values: Mapping[str, str]) -> str:
    """``{{name}}`` placeholders, each value HTML-escaped."""
    def sub(match: re.Match[str]) -> str:
        return html.escape(values[match.group(1)], quote=True)
    return re.sub(r"\{\{([a-z_]+)\}\}", sub, template)


# --- handlers -------------------------------------------------------------------------


async def loader(request: web.Request) -> web.Response:
    body = request.app[widget_assets].files[LOADER]
    # any clinic page may load the loader; it carries no data
    return web.Response(body=body, content_type="text/javascript", charset="utf-8", headers={
        "Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"})


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.Response(body=request.app[widget_assets].files[name], content_type=ASSETS[name], charset="utf-8",
                        headers={"Cache-Control": "public, max-age=300",
                                 "Cross-Origin-Resource-Policy": "cross-origin"})


async def panel(request: web.Request) -> web.Response:
    clinic = _clinic(request, request.query.get("clinic", ""))
    if clinic is None:
        return not_found_page(request, "This clinic does not offer the chat on this server.")
    ancestors = " ".join(["'self'", *clinic.origins])
    body = _render(request.app[widget_assets].text("panel.html"), {"clinic": clinic.slug, "name": clinic.name})
    return page(request, body, frame_ancestors=ancestors)


async def clinic_config(request: web.Request) -> web.Response:
    clinic = _clinic(request, request.match_info["slug"])
    if clinic is None:
        return web.json_response({"error": {"code": "not_found", "message": "No such clinic."}}, status=404)
    return web.json_response(clinic.public())


async def invitation_page(request: web.Request) -> web.Response:
    clinic = _clinic(request, None)
    slug = clinic.slug if clinic else ""
    body = _render(request.app[widget_assets].text("invite.html"),
                   {"clinic": slug, "name": clinic.name if clinic else "your clinic"})
    return page(request, body)


async def demo_page(request: web.Request) -> web.Response:
    clinic = _clinic(request, request.query.get("clinic") or None)
    if clinic is None:
        return not_found_page(request, "No clinic is configured on this server.")
    body = _render(request.app[widget_assets].text("demo.html"), {"clinic": clinic.slug, "name": clinic.name})
    return page(request, body, frame_src="'self'")


def setup_widget(app: web.Application, directory: Path = STATIC_DIR) -> None:
    """Add the widget's routes; its clinic list is built at start-up, after the database context."""
    app[widget_assets] = Assets(directory)
    app.on_startup.append(_load_clinics)
    app.router.add_get("/", invitation_page)
    app.router.add_get("/widget.js", loader)
    app.router.add_get("/widget/static/{name}", asset)
    app.router.add_get("/widget/panel", panel)
    app.router.add_get("/widget/clinics/{slug}", clinic_config)
    app.router.add_get("/demo", demo_page)
