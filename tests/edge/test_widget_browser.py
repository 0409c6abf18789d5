"""The patient widget in a real browser: Debian's Chromium driven by Playwright, against the real app.

Every test starts the real gateway (``create_app``) on a fresh, migrated SQLite database with the demo
clinic seeded (``seed_demo``), with a settable clock, and drives the widget the way a patient does:
through the stand-in clinic page ``/demo`` and its one script tag. axe-core (``npm ci`` puts it in
node_modules) checks every screen; screenshots at 1280x800 and 360x740 go to ``test-output/widget/``.

Without Chromium, Playwright or axe-core these tests skip with the reason; with ``CI=true`` they fail.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp import web
from sqlalchemy import func, select

from micare_bot import accounts
from micare_bot.app import create_app, gateway_key, keyring_key
from micare_bot.config import Settings
from micare_bot.service_cli import DEMO_PASSWORD, seed_demo
from micare_bot.store import db
from micare_bot.store.clinics import clinic_by_slug
from micare_bot.store.schema import Account, CareRequest, Conversation

try:
    from playwright.async_api import Browser, Frame, FrameLocator, Page, WebSocketRoute, async_playwright, expect
except ImportError:  # pragma: no cover - reported by the fixture below
    async_playwright = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("MICARE_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
OUT = ROOT / "test-output" / "widget"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--headless", "--disable-gpu", "--no-first-run"]
T0 = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # Monday 9:00 in Chicago
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
VIEWPORTS = [pytest.param(DESKTOP, id="1280x800"), pytest.param(PHONE, id="360x740")]
JORDAN = "jordan.avery@example.com"
FRANK = "frank.delaney@example.com"
XSS = "<img src=x onerror=alert(1)>"


def missing() -> str | None:
    if async_playwright is None:
        return "the browser tests need Playwright for Python (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    if not AXE.exists():
        return f"the browser tests need axe-core at {AXE.relative_to(ROOT)} (npm ci)"
    return None


def b64key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


class Clock:
    """A settable clock for the app."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Gateway:
    base: str
    app: web.Application
    clock: Clock
    settings: Settings

    async def count(self, model: Any, *where: Any) -> int:
        async with db.read(self.app[gateway_key].engine) as conn:
            stmt = select(func.count()).select_from(model)
            for cond in where:
                stmt = stmt.where(cond)
            return int((await conn.execute(stmt)).scalar_one())

    async def account_id(self, email: str) -> str:
        async with db.read(self.app[gateway_key].engine) as conn:
            return str((await conn.execute(select(Account.id).where(
                Account.email_index == self.app[keyring_key].blind_index(email)))).scalar_one())

    async def transcript(self, email: str, cid: str) -> dict[str, Any]:
        return await self.app[gateway_key].transcript(await self.account_id(email), cid, now=self.clock())


async def start_gateway(tmp_path: Path, aiohttp_server: Any, *, clinic_file: Path | None = None,
                        port: int | None = None) -> Gateway:
    url = f"sqlite+aiosqlite:///{tmp_path / 'micare.db'}"
    env = {"MICARE_DATABASE_URL": url, "MICARE_KEYS": f"k1:{b64key()}", "MICARE_INDEX_KEY": b64key()}
    if clinic_file is not None:
        env["MICARE_CLINIC_FILE"] = str(clinic_file)
    settings = Settings.from_env(env)
    engine = db.make_engine(url)
    try:
        await db.upgrade(engine)
    finally:
        await engine.dispose()
    await seed_demo(settings, now=T0)
    clock = Clock(T0)
    app = create_app(settings, clock=clock, send_mail=False)
    server = await aiohttp_server(app, port=port) if port else await aiohttp_server(app)
    return Gateway(str(server.make_url("")).rstrip("/"), app, clock, settings)


@pytest.fixture
async def gateway(tmp_path: Path, aiohttp_server: Any) -> Gateway:
    """The real app on a seeded SQLite database, listening on a loopback port."""
    return await start_gateway(tmp_path, aiohttp_server)


@pytest.fixture
async def browser(aiohttp_server: Any) -> AsyncIterator["Browser"]:
    """Debian's Chromium, headless; never a downloaded browser. (It closes before the servers stop,
    so no open WebSocket holds up their shutdown.)"""
    reason = missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser tests: " + reason)
        pytest.skip(reason)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Visit:
    """One browser page on the demo clinic site, with what it reported."""

    page: "Page"
    gateway: Gateway
    viewport: dict[str, int]
    console_errors: list[str] = field(default_factory=list)
    console_all: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def size(self) -> str:
        return f"{self.viewport['width']}x{self.viewport['height']}"

    @property
    def frame(self) -> "FrameLocator":
        return self.page.frame_locator("iframe[title='Secure chat with your care team']")

    def panel_frame(self) -> "Frame":
        for f in self.page.frames:
            if "/widget/panel" in f.url:
                return f
        raise AssertionError("the chat panel frame is not there")

    async def open_demo(self) -> None:
        await self.page.goto(self.gateway.base + "/demo")
        await self.page.get_by_role("button", name="Chat with your care team").click()
        await expect(self.frame.locator("#screen-loading")).to_be_hidden()

    async def login(self, email: str, password: str = DEMO_PASSWORD) -> None:
        await self.frame.get_by_label("E-mail address").fill(email)
        await self.frame.get_by_label("Password").fill(password)
        await self.frame.get_by_role("button", name="Sign in").click()
        await expect(self.frame.locator("#log li.msg-bot").first).to_be_visible()

    async def settled(self) -> None:
        await expect(self.frame.locator("#log li[data-pending]")).to_have_count(0)

    async def say(self, text: str) -> None:
        box = self.frame.get_by_label("Your message", exact=True)
        await box.fill(text)
        await box.press("Enter")
        await self.settled()

    async def tap(self, label: str) -> None:
        await self.frame.locator("#replies").get_by_role("button", name=label, exact=True).click()
        await self.settled()

    async def last_bot(self) -> str:
        return await self.frame.locator("#log li.msg-bot .bubble").last.inner_text()

    async def replies(self) -> list[str]:
        return await self.frame.locator("#replies button").all_inner_texts()

    async def conversation_id(self) -> str:
        value = await self.panel_frame().evaluate("() => localStorage.getItem('micare.conversation.demo')")
        assert value
        return str(value)

    async def shot(self, name: str) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(OUT / f"{name}-{self.size}.png"))

    async def axe(self, name: str, where: "Page | Frame | None" = None) -> None:
        """axe-core on the page or the panel: no serious or critical violation."""
        target = where if where is not None else self.panel_frame()
        if not await target.evaluate("() => typeof window.axe !== 'undefined'"):
            await target.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
        result = await target.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
        bad = [v for v in result if v["impact"] in {"serious", "critical"}]
        assert not bad, f"axe-core on the {name} screen ({self.size}): {bad}"

    async def screen(self, name: str) -> None:
        await self.shot(name)
        await self.axe(name)

    def check_clean(self) -> None:
        csp = [m for m in self.console_errors if "Content Security Policy" in m or "Refused" in m]
        assert not csp, csp
        assert not self.page_errors, self.page_errors
        assert not self.dialogs, f"a script ran a dialog: {self.dialogs}"


async def visit(browser: "Browser", gateway: Gateway, viewport: dict[str, int] = DESKTOP,
                color_scheme: str = "light") -> Visit:
    context = await browser.new_context(viewport=viewport, color_scheme=color_scheme,  # type: ignore[arg-type]
                                        reduced_motion="reduce")
    page = await context.new_page()
    v = Visit(page, gateway, viewport)

    def on_console(message: Any) -> None:
        v.console_all.append(message.text)
        # axe-core, evaluated by the tests (no URL), sets inline styles the CSP rightly refuses: not ours
        if message.type == "error" and message.location.get("url"):
            v.console_errors.append(f"{message.text} at {message.location['url']}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: v.page_errors.append(str(e)))

    async def on_dialog(dialog: Any) -> None:
        v.dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    return v


async def requests_of(gateway: Gateway, email: str) -> list[dict[str, Any]]:
    """The patient's filed requests as their inbox has them, by medication name."""
    inbox = await gateway.app[gateway_key].inbox(await gateway.account_id(email), now=gateway.clock())
    return sorted(inbox["messages"], key=lambda m: str(m["fields"].get("medication")))


# --- the scenarios -------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_refill_typed_then_by_quick_replies_with_the_keyboard(browser: "Browser", gateway: Gateway,
                                                                   viewport: dict[str, int]) -> None:
    """Sign in on the demo page; file a refill by typing, then another by quick replies, keyboard only."""
    v = await visit(browser, gateway, viewport)
    await v.page.goto(gateway.base + "/demo")
    await v.shot("demo-page")
    await v.axe("demo page", v.page)
    await v.open_demo()
    await v.shot("login")
    await v.axe("login")
    await v.login(JORDAN)
    assert "Medication refill" in await v.replies()
    await v.screen("greeting")

    await v.say("I need my losartan refilled at the base pharmacy")
    assert await v.replies() == ["Confirm", "Change", "Cancel"]
    summary = await v.last_bot()
    assert "Losartan 50 mg tablet" in summary and "base pharmacy" in summary.lower()
    await v.screen("read-back")
    await v.say("yes")
    card = v.frame.locator("#card")
    await expect(card).to_contain_text(re.compile(r"Reference: R-\w+"))
    await expect(card).to_contain_text("Expect a reply by Tuesday, November 17")
    await v.screen("filed")

    # the second request: keyboard only, from "Start a new request" to Confirm
    await v.frame.get_by_role("button", name="Start a new request").focus()
    await v.page.keyboard.press("Enter")
    await expect(v.frame.locator("#replies")).to_contain_text("Medication refill")
    for label in ("Medication refill", "Rosuvastatin 10 mg tablet", "Mail order", "Confirm"):
        await tab_to(v, label)
        await v.page.keyboard.press("Enter")
        await v.settled()
    await expect(v.frame.locator("#card")).to_contain_text("Request sent")

    filed = await requests_of(gateway, JORDAN)
    assert [r["fields"]["medication"] for r in filed] == ["Losartan 50 mg tablet", "Rosuvastatin 10 mg tablet"]
    assert "base" in filed[0]["fields"]["pharmacy"].lower() and "mail" in filed[1]["fields"]["pharmacy"].lower()
    v.check_clean()


async def tab_to(v: Visit, label: str, limit: int = 40, key: str = "Tab") -> None:
    """Press Tab until the focused control is the button named ``label``; its focus must be visible."""
    frame = v.panel_frame()
    for _ in range(limit):
        await v.page.keyboard.press(key)
        focused = await frame.evaluate(
            "() => { const e = document.activeElement; if (!e || e === document.body) return null;"
            " const s = getComputedStyle(e); return {text: e.textContent.trim(), tag: e.tagName,"
            " outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }")
        if focused and focused["tag"] == "BUTTON" and focused["text"] == label:
            assert focused["outline"] != "none" and focused["width"] >= 2, f"no visible focus on {label}: {focused}"
            return
    raise AssertionError(f"Tab never reached the {label!r} button")


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_chest_pain_shows_the_redirect_screen_and_files_nothing(browser: "Browser", gateway: Gateway,
                                                                     viewport: dict[str, int]) -> None:
    """'Crushing chest pain': the redirect screen with tap-to-call numbers, no way to file, even after reload."""
    v = await visit(browser, gateway, viewport)
    await v.open_demo()
    await v.login(FRANK)
    box = v.frame.get_by_label("Your message", exact=True)
    await box.fill("I have crushing chest pain")
    await box.press("Enter")
    redirect = v.frame.locator("#screen-redirect")
    await expect(redirect).to_be_visible()
    await expect(v.frame.get_by_role("heading", name="Call 911 now")).to_be_focused()
    hrefs = await redirect.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    for number in ("tel:911", "tel:988", "tel:18002221222", "tel:18008742273"):
        assert number in hrefs
    await expect(v.frame.get_by_role("link", name="Call 911")).to_have_attribute("href", "tel:911")
    await expect(v.frame.get_by_role("textbox")).to_have_count(0)
    await expect(v.frame.locator("#screen-chat")).to_be_hidden()
    await expect(v.frame.get_by_role("button", name="Start a new request")).to_have_count(0)
    await expect(v.frame.get_by_role("button", name="Send")).to_have_count(0)
    await v.screen("redirect")

    await v.page.reload()
    await expect(v.frame.locator("#screen-redirect")).to_be_visible()  # the panel reopens on the same screen
    await expect(v.frame.get_by_role("textbox")).to_have_count(0)
    cid = await v.conversation_id()
    assert await gateway.count(CareRequest) == 0
    assert await gateway.count(Conversation, Conversation.id == cid, Conversation.status == "redirected") == 1
    v.check_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_staff_reply_in_inbox_and_markup_shows_as_text(browser: "Browser", gateway: Gateway,
                                                            viewport: dict[str, int]) -> None:
    """A care-team reply shows in the inbox; '<img src=x onerror=alert(1)>' from either side is plain text."""
    v = await visit(browser, gateway, viewport, color_scheme="dark")
    await v.open_demo()
    await v.login(JORDAN)
    await v.say(XSS)
    await expect(v.frame.locator("#log li.msg-patient .bubble").last).to_have_text(XSS)
    await v.say("refill my glipizide to mail order")
    await v.say("yes")
    await expect(v.frame.locator("#card")).to_contain_text("Request sent")
    reference = (await v.frame.locator("#card strong").inner_text()).strip()

    staff = await gateway.account_id("casey.morgan@riverside-clinic.example")
    await gateway.app[gateway_key].reply(staff, reference, f"Your refill is ready for pick-up. {XSS}",
                                         now=gateway.clock())
    await v.frame.get_by_role("button", name="Inbox", exact=True).click()
    item = v.frame.locator(".inbox-item").first
    await expect(item).to_contain_text(reference)
    await expect(item).to_contain_text("reply expected by Nov 17, 2026, 4:30 PM CST")  # the clinic's time
    await expect(item.locator(".reply .bubble")).to_have_text(f"Your refill is ready for pick-up. {XSS}")
    await expect(v.frame.get_by_role("heading", name="Your messages")).to_be_focused()
    await v.screen("inbox-dark")
    assert await v.panel_frame().evaluate("() => document.images.length") == 0
    await asyncio.sleep(0.3)  # an injected onerror handler would have fired by now
    v.check_clean()

    await v.frame.get_by_role("button", name="Back to chat").click()
    await expect(v.frame.locator("#card")).to_be_visible()


async def test_connection_drops_while_sending_and_the_message_arrives_once(browser: "Browser",
                                                                          gateway: Gateway) -> None:
    """The socket dies right after a message leaves: the widget resends it by HTTP with the same
    client_turn_id, so the server takes it once (a new id would make it a second turn)."""
    v = await visit(browser, gateway)
    sockets: list[str] = []
    dropped: list[str] = []

    async def route(ws: "WebSocketRoute") -> None:
        server = ws.connect_to_server()
        sockets.append(ws.url)
        if len(sockets) > 1:
            return  # later connections pass straight through

        def from_page(message: str | bytes) -> None:
            server.send(message)
            if "losartan" in str(message) and not dropped:
                dropped.append(str(message))
                asyncio.get_running_loop().create_task(ws.close(code=1011, reason="drop"))

        ws.on_message(from_page)
        server.on_message(lambda message: ws.send(message))

    await v.page.route_web_socket(re.compile(r".*/ws$"), route)
    await v.open_demo()
    await v.login(JORDAN)
    await v.say("refill my losartan to the base pharmacy")
    assert await v.replies() == ["Confirm", "Change", "Cancel"]
    assert len(dropped) == 1  # it was cut off after leaving
    for _ in range(50):  # and the widget reconnects on its own
        if len(sockets) >= 2:
            break
        await asyncio.sleep(0.1)
    assert len(sockets) >= 2
    await v.say("yes")
    await expect(v.frame.locator("#card")).to_contain_text("Request sent")
    assert await gateway.count(CareRequest) == 1
    cid = await v.conversation_id()
    words = [e["text"] for e in (await gateway.transcript(JORDAN, cid))["transcript"] if e["from"] == "patient"]
    assert words == ["refill my losartan to the base pharmacy", "yes"]
    await expect(v.frame.locator("#log li.msg-patient")).to_have_count(2)
    await expect(v.frame.locator("#log li.msg-bot", has_text="is with the Blue Team")).to_have_count(1)
    v.check_clean()


@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_reload_and_session_expiry_come_back_to_the_same_conversation(browser: "Browser",
                                                                           gateway: Gateway,
                                                                           transport: str) -> None:
    """A reload keeps the conversation; an expired session asks for sign-in, then the typed answer goes on
    (the expiry seen as WebSocket close 4401, or as an HTTP 401 when WebSockets are blocked)."""
    v = await visit(browser, gateway)
    if transport == "http":
        await block_websockets(v)
    await v.open_demo()
    await v.login(JORDAN)
    await v.say("I need a refill")
    assert "Losartan 50 mg tablet" in await v.replies()
    cid = await v.conversation_id()

    await v.page.reload()
    await expect(v.frame.locator("#log li.msg-patient .bubble")).to_have_text(["I need a refill"])
    assert "Losartan 50 mg tablet" in await v.replies()

    gateway.clock.now += timedelta(minutes=16)  # past the 15-minute idle timeout
    box = v.frame.get_by_label("Your message", exact=True)
    await box.fill("losartan")
    await box.press("Enter")
    await expect(v.frame.locator("#screen-login")).to_be_visible()
    await expect(v.frame.locator("#login-note")).to_contain_text("session has ended")
    await v.shot(f"session-expired-{transport}")
    await v.axe("session expired")
    await v.frame.get_by_label("E-mail address").fill(JORDAN)
    await v.frame.get_by_label("Password").fill(DEMO_PASSWORD)
    await v.frame.get_by_role("button", name="Sign in").click()
    await v.settled()
    await expect(v.frame.locator("#replies")).to_contain_text("Mail order")
    assert await v.conversation_id() == cid
    words = [e["text"] for e in (await gateway.transcript(JORDAN, cid))["transcript"] if e["from"] == "patient"]
    assert words == ["I need a refill", "losartan"]
    await expect(v.frame.locator("#log li.msg-patient .bubble")).to_have_text(["I need a refill", "losartan"])
    v.check_clean()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_invitation_page_sets_the_password(browser: "Browser", gateway: Gateway,
                                                 viewport: dict[str, int]) -> None:
    """The e-mailed link (token in the fragment) sets a password; the fragment is wiped; sign-in works."""
    app = gateway.app
    async with db.read(app[gateway_key].engine) as conn:
        clinic = await clinic_by_slug(conn, "demo")
    assert clinic is not None
    inv = await accounts.enroll(app[gateway_key].engine, app[keyring_key], gateway.settings, clinic,
                                name="Riley Quinn", email="riley@example.com", now=gateway.clock(),
                                medications=["Metformin 500 mg tablet"], notify=False)
    v = await visit(browser, gateway, viewport)
    await v.page.goto(gateway.base + "/#invitation=" + inv.token)
    await expect(v.page.get_by_role("heading", name="Set up your account")).to_be_visible()
    assert inv.token not in v.page.url
    await v.shot("invitation")
    await v.axe("invitation", v.page)
    await v.page.get_by_label("New password").fill("short")
    await v.page.get_by_role("button", name="Create my account").click()
    await expect(v.page.get_by_role("alert")).to_contain_text("12 characters")
    await v.page.get_by_label("New password").fill("a long enough passphrase")
    await v.page.get_by_label("Repeat the password").fill("a long enough passphrase")
    await v.page.get_by_label("I accept the terms of use").check()
    await v.page.get_by_role("button", name="Create my account").click()
    await expect(v.page.get_by_role("heading", name="Your account is ready")).to_be_focused()
    await v.axe("account ready", v.page)
    await v.page.get_by_role("link", name="Open the secure chat and sign in").click()
    await v.page.get_by_label("E-mail address").fill("riley@example.com")
    await v.page.get_by_label("Password").fill("a long enough passphrase")
    await v.page.get_by_role("button", name="Sign in").click()
    await expect(v.page.locator("#log li.msg-bot").first).to_contain_text("Hi Riley")
    v.check_clean()


async def test_frame_ancestors_allow_only_the_configured_clinic_site(browser: "Browser", tmp_path: Path,
                                                                    aiohttp_server: Any) -> None:
    """A configured clinic site can embed the panel; another site gets a blocked frame."""
    from .conftest import free_port

    allowed_port = free_port()
    source = (ROOT / "micare_bot" / "data" / "clinic.demo.yaml").read_text(encoding="utf-8")
    clinic_file = tmp_path / "clinic.yaml"
    clinic_file.write_text(source + f"\nwidget_origins:\n  - http://localhost:{allowed_port}\n", encoding="utf-8")
    gateway = await start_gateway(tmp_path, aiohttp_server, clinic_file=clinic_file)

    async def host_page(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=(
            "<!doctype html><html lang=en><head><title>Clinic site</title></head><body><h1>Clinic site</h1>"
            f"<script src=\"{gateway.base}/widget.js\" data-clinic=\"demo\" async></script></body></html>"))

    site = web.Application()
    site.router.add_get("/", host_page)
    await aiohttp_server(site, port=allowed_port)
    other = web.Application()
    other.router.add_get("/", host_page)
    other_server = await aiohttp_server(other)

    v = await visit(browser, gateway)
    await v.page.goto(f"http://localhost:{allowed_port}/")
    await v.page.get_by_role("button", name="Chat with your care team").click()
    await expect(v.frame.get_by_role("heading", name="Sign in")).to_be_visible()
    # a different site (localhost vs 127.0.0.1): the browser keeps no SameSite=Strict cookie in the frame,
    # and the panel says so and offers the chat in a window of its own
    await v.frame.get_by_label("E-mail address").fill(JORDAN)
    await v.frame.get_by_label("Password").fill(DEMO_PASSWORD)
    await v.frame.get_by_role("button", name="Sign in").click()
    await expect(v.frame.get_by_role("link", name="Open the secure chat in a new window")).to_be_visible()

    blocked = await visit(browser, gateway)
    await blocked.page.goto(f"http://localhost:{other_server.port}/")
    await blocked.page.get_by_role("button", name="Chat with your care team").click()
    await asyncio.sleep(1.0)
    frames = [f for f in blocked.page.frames if f is not blocked.page.main_frame]
    assert frames, "the launcher made no frame"
    for f in frames:
        assert await f.locator("#login-form").count() == 0, "the panel loaded in a site that is not allowed"
    assert any("frame-ancestors" in m for m in blocked.console_all), blocked.console_all


MARIA = "maria.santos@example.com"  # two children on the account: "Who is this for?" comes with buttons

INTAKES = [
    pytest.param("Appointment", {"patient": "Lucas", "reason": "ear check", "preferred_time": "Mornings",
                                 "visit_type": "Video visit"},
                 "filed", {"patient": "Lucas", "visit_type": "virtual", "reason": "ear check"}, id="appointment"),
    pytest.param("Medication refill", {"patient": "Me", "medication": "Norethindrone 0.35 mg tablet",
                                       "pharmacy": ["Mail order", "Base pharmacy"],
                                       "confirm": ["Change", "Confirm"], "change": "Pharmacy"},
                 "filed", {"patient": "self", "medication": "Norethindrone 0.35 mg tablet",
                           "pharmacy": "Base pharmacy"}, id="refill-with-a-change"),
    pytest.param("I want my lab results", {"patient": "Sophie", "test": "blood count", "test_date": "Not sure"},
                 "filed", {"patient": "Sophie", "test": "blood count"}, id="results"),  # "lab results": which test is asked
    pytest.param("Immunization record", {"patient": "Lucas", "purpose": "Travel", "delivery": "Mail"},
                 "filed", {"patient": "Lucas", "purpose": "travel", "delivery": "mail"}, id="immunization_copy"),
    pytest.param("I have had a rash on my arm", {"patient": "Me", "onset": "A few days ago", "severity": "Moderate",
                                                 "self_care": "Nothing yet"},
                 "filed", {"patient": "self", "severity": "moderate", "symptom": "rash"}, id="symptom"),
    pytest.param("Message to my care team", {"message": "A question about my bill", "patient": "Me"},
                 "filed", {"patient": "self", "message": "bill"}, id="other"),
    pytest.param("Medication refill", {"patient": "Me", "medication": "Escitalopram 10 mg tablet",
                                       "pharmacy": "Mail order", "confirm": "Cancel"},
                 "cancelled", {}, id="cancel-at-read-back"),
]


@pytest.mark.parametrize("opening, answers, outcome, expected", INTAKES)
async def test_every_intake_keyboard_only(browser: "Browser", gateway: Gateway, opening: str,
                                          answers: dict[str, Any], outcome: str, expected: dict[str, str]) -> None:
    """Each intake of SPEC §2, keyboard only: quick replies reached with Shift+Tab, answers typed."""
    v = await visit(browser, gateway)
    await v.open_demo()
    await v.login(MARIA)
    queues = {k: list(a) if isinstance(a, list) else [a] for k, a in answers.items()}

    async def answer(text: str) -> None:
        if text in await v.replies():
            await tab_to(v, text, key="Shift+Tab")
        else:
            await expect(v.frame.get_by_label("Your message", exact=True)).to_be_focused()
            await v.page.keyboard.type(text)
        await v.page.keyboard.press("Enter")
        await v.settled()

    await answer(opening)
    cid = await v.conversation_id()
    for _ in range(15):
        state = await gateway.transcript(MARIA, cid)
        if state["status"] in {"filed", "cancelled", "redirected"}:
            break
        queue = queues.get(state["awaiting"] or "", [])
        text = queue.pop(0) if len(queue) > 1 else (queue[0] if queue else
                                                     "Confirm" if state["awaiting"] == "confirm" else "I don't know")
        await answer(text)
    assert state["status"] == outcome, state
    filed = await requests_of(gateway, MARIA)
    if outcome == "filed":
        await expect(v.frame.locator("#card")).to_contain_text("Request sent")
        assert len(filed) == 1
        for name, value in expected.items():
            assert value.lower() in str(filed[0]["fields"].get(name, "")).lower(), (name, filed[0]["fields"])
    else:
        assert filed == []
        await expect(v.frame.get_by_role("button", name="Start a new request")).to_be_visible()
    v.check_clean()


@pytest.mark.parametrize("words, heading, first", [
    ("I want to kill myself", "Please reach out now", "tel:988"),
    ("my son swallowed bleach", "Call Poison Control now", "tel:18002221222"),
    ("I have had a fever of 103 for three days", "You need care today", "tel:18008742273"),
], ids=["crisis", "poison", "same_day"])
async def test_each_urgent_level_puts_its_number_first(browser: "Browser", gateway: Gateway, words: str,
                                                       heading: str, first: str) -> None:
    """Mid-flow, an urgent answer pre-empts the refill: the level's number comes first, 911 is still there."""
    v = await visit(browser, gateway, PHONE)
    await v.open_demo()
    await v.login(JORDAN)
    await v.say("I need a refill")
    box = v.frame.get_by_label("Your message", exact=True)
    await box.fill(words)
    await box.press("Enter")
    await expect(v.frame.get_by_role("heading", name=heading)).to_be_focused()
    await expect(v.frame.locator("#redirect-primary")).to_have_attribute("href", first)
    await expect(v.frame.locator("#redirect-numbers a[href='tel:911']")).to_have_count(1)
    await v.axe(f"redirect ({heading})")
    assert await gateway.count(CareRequest) == 0
    v.check_clean()


async def block_websockets(v: Visit) -> list[str]:
    """Every WebSocket handshake fails, as behind a proxy that does not pass them."""
    tried: list[str] = []

    async def route(ws: "WebSocketRoute") -> None:
        tried.append(ws.url)
        await ws.close(code=1011, reason="no websockets here")

    await v.page.route_web_socket(re.compile(r".*/ws$"), route)
    return tried


async def test_without_websockets_the_chat_works_over_http(browser: "Browser", gateway: Gateway) -> None:
    """WebSockets never connect: turns go by HTTP and a refill is filed."""
    v = await visit(browser, gateway)
    tried = await block_websockets(v)
    await v.open_demo()
    await v.login(JORDAN)
    await v.say("refill my losartan to mail order")
    await v.tap("Confirm")
    await expect(v.frame.locator("#card")).to_contain_text("Request sent")
    assert tried, "the widget never tried a WebSocket"
    assert await gateway.count(CareRequest) == 1
    v.check_clean()


async def test_a_message_typed_offline_goes_out_once_when_back_online(browser: "Browser", gateway: Gateway) -> None:
    """Offline, the typed message waits (and says so); back online it is sent once, with its first id."""
    v = await visit(browser, gateway)
    await block_websockets(v)
    await v.open_demo()
    await v.login(JORDAN)
    await v.page.context.set_offline(True)
    box = v.frame.get_by_label("Your message", exact=True)
    await box.fill("refill my losartan to the base pharmacy")
    await box.press("Enter")
    await expect(v.frame.locator("#status")).to_contain_text("Connection lost")
    await expect(v.frame.locator("#log li[data-pending]")).to_have_count(1)
    await v.page.context.set_offline(False)
    await v.settled()
    assert await v.replies() == ["Confirm", "Change", "Cancel"]
    cid = await v.conversation_id()
    words = [e["text"] for e in (await gateway.transcript(JORDAN, cid))["transcript"] if e["from"] == "patient"]
    assert words == ["refill my losartan to the base pharmacy"]
    v.check_clean()


async def test_launcher_keyboard_focus_escape_and_reduced_motion(browser: "Browser", gateway: Gateway) -> None:
    """Enter on the launcher moves focus into the panel; Escape closes it and focus returns to the launcher."""
    v = await visit(browser, gateway)
    await v.page.goto(gateway.base + "/demo")
    launcher = v.page.get_by_role("button", name="Chat with your care team")
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await launcher.focus()
    await v.page.keyboard.press("Enter")
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    await expect(v.frame.get_by_label("E-mail address")).to_be_focused()
    await v.page.keyboard.type(JORDAN)
    await v.page.keyboard.press("Tab")
    await v.page.keyboard.type(DEMO_PASSWORD)
    await v.page.keyboard.press("Enter")
    await expect(v.frame.get_by_label("Your message", exact=True)).to_be_focused()
    animation = await v.panel_frame().evaluate(
        "() => getComputedStyle(document.querySelector('#log li.msg')).animationName")
    assert animation == "none"  # prefers-reduced-motion: reduce
    await v.page.keyboard.press("Escape")
    await expect(v.page.locator("[data-micare-widget] .panel")).to_be_hidden()
    await expect(launcher).to_be_focused()
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await v.page.keyboard.press("Enter")  # and it opens again on the same conversation
    await expect(v.frame.locator("#log li.msg-bot").first).to_be_visible()
    v.check_clean()


async def test_a_message_whose_answer_was_lost_in_a_reload_is_taken_once(browser: "Browser",
                                                                        gateway: Gateway) -> None:
    """The server takes a turn, the page reloads before the answer arrives: after the reload the widget
    sends the same client_turn_id again, gets the first answer, and shows the message once."""
    v = await visit(browser, gateway)
    await block_websockets(v)
    await v.open_demo()
    await v.login(JORDAN)
    held: list[Any] = []
    taken = asyncio.Event()

    async def hold(route: Any) -> None:
        await route.fetch()  # the server takes the turn ...
        held.append(route)  # ... and its answer never reaches the page
        taken.set()

    await v.page.route("**/api/v1/conversations/*/turns", hold, times=1)
    box = v.frame.get_by_label("Your message", exact=True)
    await box.fill("refill my losartan to the base pharmacy")
    await box.press("Enter")
    await asyncio.wait_for(taken.wait(), 10)
    cid = await v.conversation_id()
    await v.page.reload()
    await expect(v.frame.locator("#replies")).to_contain_text("Confirm")
    await v.settled()
    words = [e["text"] for e in (await gateway.transcript(JORDAN, cid))["transcript"] if e["from"] == "patient"]
    assert words == ["refill my losartan to the base pharmacy"]
    await expect(v.frame.locator("#log li.msg-patient")).to_have_count(1)
    await expect(v.frame.locator("#log li.msg-bot.summary")).to_have_count(1)
    v.check_clean()


async def test_sign_out_forgets_the_conversation(browser: "Browser", gateway: Gateway) -> None:
    """Sign out ends the session and forgets the open conversation; the next patient starts afresh."""
    v = await visit(browser, gateway, PHONE)
    await v.open_demo()
    await v.login(FRANK)
    await v.frame.get_by_role("button", name="Inbox", exact=True).click()
    await expect(v.frame.get_by_text("No requests yet")).to_be_visible()
    await v.screen("inbox-empty")
    await v.frame.get_by_role("button", name="Back to chat").click()
    await v.say("I need a refill")
    first = await v.conversation_id()
    await v.frame.get_by_role("button", name="Sign out").click()
    await expect(v.frame.locator("#login-note")).to_have_text("You are signed out.")
    assert await v.panel_frame().evaluate("() => localStorage.getItem('micare.conversation.demo')") is None
    status = await v.panel_frame().evaluate("async () => (await fetch('/api/v1/session')).status")
    assert status == 401
    await v.login(JORDAN)
    assert await v.conversation_id() != first
    await expect(v.frame.locator("#log li.msg-patient")).to_have_count(0)
    await expect(v.frame.locator("#log li.msg-bot").first).to_contain_text("Hi Jordan")
    v.check_clean()


async def test_a_safety_question_is_answered_with_its_buttons(browser: "Browser", gateway: Gateway,
                                                              alarmed_engine: Any, monkeypatch: Any) -> None:
    """Only the word model finds the opening urgent: the patient sees one safety question with
    Yes / No / I'm not sure; tapping No carries on with the symptom question, nothing refused."""
    from micare_bot import conversation

    monkeypatch.setattr(conversation, "load_engine", lambda *a, **k: alarmed_engine)
    v = await visit(browser, gateway, PHONE)
    await v.open_demo()
    await v.login(JORDAN)
    await v.say("my knee has a zorblax feeling again today")
    assert await v.replies() == ["Yes", "No", "I'm not sure"]
    assert "happening right now and severe" in await v.last_bot()
    await expect(v.frame.locator("#screen-redirect")).to_be_hidden()
    await v.screen("safety-question")
    await v.tap("No")
    assert await v.replies() == ["Mild", "Moderate", "Severe", "Not sure"]
    bubbles = await v.frame.locator("#log li.msg-bot .bubble").all_inner_texts()
    assert any("If that changes, call 911" in b for b in bubbles)
    assert await gateway.count(CareRequest) == 0
    v.check_clean()
