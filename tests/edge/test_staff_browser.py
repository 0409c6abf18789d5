"""The staff pages in a real browser (Debian's Chromium via Playwright, axe-core on every page):
a nurse signs in, sees the demo clinic's requests by due time with the nearly-due one highlighted,
opens one, reads the transcript, claims it, answers with a canned reply, marks it done; the patient
then reads the answer in the chat widget's inbox. Screenshots go to ``test-output/staff/``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from micare_bot.service_cli import DEMO_PASSWORD
from micare_bot.store.schema import OutboxMessage, RequestEvent

from .staff_helpers import JORDAN, NURSE, T0, Actor, file_request
from .test_widget_browser import DESKTOP, PHONE, ROOT, Gateway, Visit, browser, gateway, visit  # noqa: F401

try:
    from playwright.async_api import Browser, expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails with the reason
    pass

OUT = ROOT / "test-output" / "staff"


async def patient_files(gateway: Gateway, opening: str, answers: dict[str, str]) -> dict[str, Any]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        patient = Actor(http, gateway.base)
        resp = await patient.post("/api/v1/session", {"email": JORDAN, "password": DEMO_PASSWORD}, csrf=False)
        assert resp.status == 200
        patient.csrf = (await resp.json())["csrf_token"]
        return await file_request(patient, opening, answers)


async def shot(v: Visit, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    await v.page.screenshot(path=str(OUT / f"{name}-{v.size}.png"), full_page=True)


async def staff_login(v: Visit, email: str = NURSE) -> None:
    await v.page.goto(v.gateway.base + "/staff/queue")
    await expect(v.page.get_by_role("heading", name="Staff sign in")).to_be_visible()
    await v.page.get_by_label("E-mail address").fill(email)
    await v.page.get_by_label("Password").fill(DEMO_PASSWORD)
    await v.page.get_by_role("button", name="Sign in").click()
    await expect(v.page.get_by_role("heading", name="Requests")).to_be_visible()


async def count(gateway: Gateway, model: Any, *where: Any) -> int:
    return await gateway.count(model, *where)


@pytest.mark.parametrize("viewport", [pytest.param(DESKTOP, id="1280x800"), pytest.param(PHONE, id="360x740")])
async def test_nurse_answers_in_the_browser_and_the_patient_reads_it_in_the_widget(
        browser: "Browser", gateway: Gateway, viewport: dict[str, int]) -> None:  # noqa: F811
    gateway.clock.now = T0 - timedelta(days=3)  # the Friday before: due Monday 16:30
    await patient_files(gateway, "I'd like an appointment for my knee",
                        {"preferred_time": "mornings", "visit_type": "in person"})
    gateway.clock.now = T0
    filed = await patient_files(gateway, "I need my losartan refilled", {"pharmacy": "mail order"})
    gateway.clock.now = T0 + timedelta(hours=6)  # Monday 15:00: the appointment request is nearly due

    v = await visit(browser, gateway, viewport)
    await staff_login(v)
    await v.axe("staff sign-in done: queue", v.page)
    rows = v.page.locator("table.queue tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("Appointment")
    await expect(rows.nth(0)).to_contain_text("Nearly due")
    await expect(rows.nth(0)).to_have_class("due-nearly_due")
    await expect(rows.nth(1)).to_contain_text("Medication refill")
    await expect(rows.nth(1)).to_contain_text("Losartan 50 mg tablet")
    await expect(v.page.locator(".counts")).to_contain_text("2 Open")
    await shot(v, "queue")

    # filter by type with the form (no script needed)
    await v.page.get_by_label("Request type").select_option("refill")
    await v.page.get_by_role("button", name="Apply filters").click()
    await expect(rows).to_have_count(1)

    await v.page.get_by_role("link", name="Medication refill").click()
    await expect(v.page.get_by_role("heading", name=f"Medication refill {filed['request_id']}")).to_be_visible()
    await expect(v.page.locator(".words")).to_contain_text("I need my losartan refilled")
    await v.page.get_by_role("button", name="Show the whole conversation").click()
    await expect(v.page.locator("#transcript-list")).to_contain_text("Patient: I need my losartan refilled")
    await v.axe("request", v.page)
    await shot(v, "request")

    await v.page.get_by_role("button", name="Claim").click()
    await expect(v.page.locator("#status")).to_contain_text("Claimed · Casey Morgan")
    await expect(v.page.locator("#toast")).to_contain_text("You claimed this request.")
    await v.page.get_by_label("Canned reply").select_option(label="Refill sent to the pharmacy")
    reply = v.page.get_by_label("Message", exact=True)
    await expect(reply).to_have_value(re.compile("sent to mail order"))
    await reply.fill((await reply.input_value()) + "\nCall us if it has not arrived by Friday.")
    await v.page.get_by_label("Pharmacy").check()
    await v.page.get_by_role("button", name="Send reply").dblclick()  # a double click sends once
    await expect(v.page.locator("#toast")).to_contain_text("Reply sent")
    await expect(v.page.locator(".replies")).to_contain_text("Call us if it has not arrived by Friday.")
    await v.axe("request answered", v.page)
    await shot(v, "answered")
    await v.page.get_by_role("button", name="Mark done").click()
    await expect(v.page.locator("#status")).to_contain_text("Done")
    assert await count(gateway, RequestEvent, RequestEvent.action == "replied") == 1
    assert await count(gateway, OutboxMessage, OutboxMessage.kind == "new_message") == 1
    v.check_clean()

    # the patient, in the chat widget on the clinic's page
    p = await visit(browser, gateway, viewport)
    await p.open_demo()
    await p.login(JORDAN)
    await p.frame.locator("#nav-inbox").click()
    await expect(p.frame.locator("#inbox-list")).to_contain_text("Call us if it has not arrived by Friday.")
    await shot(p, "patient-inbox")
    p.check_clean()


async def test_sign_out_and_wrong_password_in_the_browser(browser: "Browser", gateway: Gateway) -> None:  # noqa: F811
    v = await visit(browser, gateway)
    await v.page.goto(gateway.base + "/staff/login")
    await v.axe("sign in", v.page)
    await v.page.get_by_label("E-mail address").fill(NURSE)
    await v.page.get_by_label("Password").fill("not the password")
    await v.page.get_by_role("button", name="Sign in").click()
    await expect(v.page.get_by_role("alert")).to_contain_text("not right")
    await staff_login(v)
    await v.page.get_by_role("button", name="Sign out").click()
    await expect(v.page.get_by_role("heading", name="Staff sign in")).to_be_visible()
    await v.page.goto(gateway.base + "/staff/queue")
    await expect(v.page.get_by_role("heading", name="Staff sign in")).to_be_visible()
    v.check_clean()

