"""The widget's routes and pages without a browser: CSP, frame-ancestors, escaping, the served files."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot.app import create_app
from micare_bot.channels.widget import ASSETS, STATIC_DIR, parse_origins, tel_href
from micare_bot.config import DEMO_CLINIC_FILE, ConfigError, Settings


def clinic_file(tmp_path: Path, extra: str = "", name: str | None = None) -> Path:
    text = DEMO_CLINIC_FILE.read_text(encoding="utf-8")
    if name is not None:
        text = re.sub(r"(?m)^name: .*$", f"name: {name!r}", text)
    path = tmp_path / "clinic.yaml"
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


@pytest.fixture
async def client(engine: AsyncEngine, settings: Settings, aiohttp_client: Any) -> TestClient:
    """The real app on a migrated database (the demo clinic, no extra widget origins)."""
    return await aiohttp_client(create_app(settings, send_mail=False))


def directives(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        out[name] = value
    return out


class TestPages:
    async def test_panel_has_a_strict_policy(self, client: TestClient) -> None:
        """The panel: scripts and styles from our origin only, no inline or eval, framed by our origin."""
        resp = await client.get("/widget/panel?clinic=demo")
        assert resp.status == 200
        csp = directives(resp.headers["Content-Security-Policy"])
        assert csp["default-src"] == "'none'"
        assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
        assert csp["frame-ancestors"] == "'self'"
        assert csp["connect-src"].startswith("'self' ws://")
        assert "unsafe" not in resp.headers["Content-Security-Policy"]
        assert "X-Frame-Options" not in resp.headers
        body = await resp.text()
        assert 'data-clinic="demo"' in body and "Riverside Family Health Clinic (demo)" in body

    async def test_other_pages_cannot_be_framed(self, client: TestClient) -> None:
        """The invitation page and the demo page refuse every frame."""
        for path in ("/", "/demo"):
            resp = await client.get(path)
            assert resp.status == 200
            assert directives(resp.headers["Content-Security-Policy"])["frame-ancestors"] == "'none'"
            assert resp.headers["X-Frame-Options"] == "DENY"
        demo = await (await client.get("/demo")).text()
        assert '<script src="/widget.js" data-clinic="demo" async></script>' in demo

    async def test_unknown_clinic_is_404_without_echo(self, client: TestClient) -> None:
        """An unknown or malformed clinic answers 404 and does not reflect what was asked."""
        for slug in ("nope", "<script>alert(1)</script>", ""):
            resp = await client.get("/widget/panel", params={"clinic": slug})
            assert resp.status == 404
            assert "alert(1)" not in await resp.text()
        resp = await client.get("/widget/clinics/nope")
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"

    async def test_clinic_config_is_public_numbers_only(self, client: TestClient) -> None:
        """The panel's clinic config: name, time zone and tap-to-call numbers, nothing else."""
        body = await (await client.get("/widget/clinics/demo")).json()
        assert set(body) == {"slug", "name", "timezone", "numbers"}
        assert body["timezone"] == "America/Chicago"
        hrefs = {n["key"]: n["href"] for n in body["numbers"]}
        assert hrefs["emergency"] == "tel:911" and hrefs["crisis"] == "tel:988"
        assert hrefs["poison"] == "tel:18002221222" and hrefs["nurse"] == "tel:18008742273"
        assert hrefs["crisis_text"] == "sms:838255"

    async def test_only_listed_files_are_served(self, client: TestClient) -> None:
        """/widget/static serves the widget's files and nothing else."""
        for name, kind in ASSETS.items():
            resp = await client.get(f"/widget/static/{name}")
            assert resp.status == 200 and resp.content_type == kind
        for name in ("panel.html", "..%2fwidget.py", "../../app.py", "nope.js"):
            assert (await client.get(f"/widget/static/{name}")).status == 404
        loader = await client.get("/widget.js")
        assert loader.status == 200 and loader.content_type == "text/javascript"
        assert loader.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


class TestClinicOrigins:
    async def test_configured_origins_may_frame_the_panel(self, engine: AsyncEngine, settings: Settings,
                                                          aiohttp_client: Any, tmp_path: Path) -> None:
        """widget_origins in the clinic file go into the panel's frame-ancestors."""
        path = clinic_file(tmp_path, "widget_origins:\n  - https://www.riverside.example/\n"
                                     "  - http://localhost:8000\n")
        client = await aiohttp_client(create_app(settings.with_(clinic_file=path), send_mail=False))
        resp = await client.get("/widget/panel?clinic=demo")
        assert directives(resp.headers["Content-Security-Policy"])["frame-ancestors"] == (
            "'self' https://www.riverside.example http://localhost:8000")

    @pytest.mark.parametrize("bad", ["https://x.example; script-src *", "https://*.example", "x.example",
                                     "https://x.example/path", "javascript:alert(1)"])
    def test_a_bad_origin_is_refused(self, bad: str) -> None:
        """Anything but scheme://host[:port] stops start-up (it would otherwise end up in a header)."""
        with pytest.raises(ConfigError, match="widget_origins"):
            parse_origins([bad], "clinic demo")

    async def test_a_bad_origin_stops_the_server(self, engine: AsyncEngine, settings: Settings,
                                                 aiohttp_client: Any, tmp_path: Path) -> None:
        """A clinic file with a bad widget origin stops the server before it listens."""
        path = clinic_file(tmp_path, "widget_origins: ['https://x.example; frame-ancestors *']\n")
        runner = web.AppRunner(create_app(settings.with_(clinic_file=path), send_mail=False))
        try:
            with pytest.raises(ConfigError, match="widget_origins"):
                await runner.setup()
        finally:
            await runner.cleanup()

    async def test_clinic_name_is_escaped(self, engine: AsyncEngine, settings: Settings, aiohttp_client: Any,
                                          tmp_path: Path) -> None:
        """A clinic name with markup characters shows as text in every page."""
        path = clinic_file(tmp_path, name="Smith & <b>Jones</b> \"Clinic\"")
        client = await aiohttp_client(create_app(settings.with_(clinic_file=path), send_mail=False))
        for url in ("/widget/panel?clinic=demo", "/", "/demo"):
            body = await (await client.get(url)).text()
            assert "<b>Jones</b>" not in body
            assert "Smith &amp; &lt;b&gt;Jones&lt;/b&gt; &quot;Clinic&quot;" in body


class TestNumbers:
    @pytest.mark.parametrize("number, href", [
        ("911", "tel:911"), ("988, then press 1", "tel:988"), ("1-800-222-1222", "tel:18002221222"),
        ("1-800-874-2273, option 1", "tel:18008742273"), ("+1 (555) 010-0100", "tel:+15550100100"),
        ("the clinic's appointment line", None),
    ])
    def test_tel_links(self, number: str, href: str | None) -> None:
        """A number as a clinic writes it becomes a tap-to-call link, or none when it has no number."""
        assert tel_href(number) == href


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k for k, _ in attrs}
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("inline <style>")
        self.problems += [f"{tag} has {k}" for k in names if k.startswith("on") or k == "style"]
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("script with a body")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


class TestStaticFiles:
    @pytest.mark.parametrize("name", ["panel.html", "invite.html", "demo.html"])
    def test_pages_have_no_inline_script_or_style(self, name: str) -> None:
        """Pages keep to the CSP: no inline script, handler attribute or style attribute."""
        parser = _Markup()
        parser.feed((STATIC_DIR / name).read_text(encoding="utf-8"))
        assert parser.problems == []

    @pytest.mark.parametrize("name", ["widget.js", "panel.js", "invite.js"])
    def test_scripts_insert_text_only(self, name: str) -> None:
        """No HTML sinks and no eval in the widget's scripts: text goes in with textContent."""
        source = (STATIC_DIR / name).read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     "setAttribute(\"style\"", "setTimeout(\"", "setInterval(\""):
            assert sink not in source, f"{name} uses {sink}"
