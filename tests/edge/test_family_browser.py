"""The parent's family path in the widget, in Debian's Chromium (Playwright) against the real app:
add two children, link each to Dr. Nakamura found by a misspelled name, the Blue Team accepts,
file a request for one child, read the reply. axe-core checks every new screen.
Set-up and skips as in test_widget_browser.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from micare_bot.app import gateway_key
from micare_bot.channels import keys as K
from micare_bot.store import db
from micare_bot.store.schema import CareRequest, Dependent

from micare_bot.service_cli import DEMO_PASSWORD

from .test_widget_browser import DESKTOP, JORDAN, MARIA, PHONE, Gateway, browser, gateway, visit  # noqa: F401

try:
    from playwright.async_api import Browser, expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails with the reason
    pass

BLUE_NURSE = "casey.morgan@riverside-clinic.example"


async def staff_accepts(browser: "Browser", gateway: Gateway, viewport: dict[str, int]) -> None:
    """The Blue Team's nurse signs in to the staff pages and accepts both requests above her queue."""
    s = await visit(browser, gateway, viewport)
    await s.page.goto(gateway.base + "/staff/login")
    await s.page.get_by_label("E-mail address").fill(BLUE_NURSE)
    await s.page.get_by_label("Password").fill(DEMO_PASSWORD)
    await s.page.get_by_role("button", name="Sign in").click()
    await s.page.wait_for_url(re.compile(r"/staff/queue"))
    section = s.page.locator("section.family-links")
    await expect(section.get_by_role("heading")).to_contain_text("Family links waiting for a decision (2)")
    await expect(section).to_contain_text("Emma Avery")
    await expect(section).to_contain_text("Jordan Avery")
    await expect(section).to_contain_text("Dr. Emi Nakamura")
    await s.shot("staff-family-requests")
    await s.axe("staff queue with family link requests", s.page)
    for child in ("Emma Avery", "Liam Avery"):
        await section.get_by_role("button", name=f"Accept Jordan Avery for {child}").click()
        await expect(s.page.locator("#toast")).to_contain_text("Accepted")
    await expect(section.get_by_role("button", name=re.compile("^Accept"))).to_have_count(0)
    s.check_clean()
    await s.page.context.close()


@pytest.mark.parametrize("viewport", [pytest.param(DESKTOP, id="1280x800"), pytest.param(PHONE, id="360x740")])
async def test_parent_adds_two_children_links_them_and_files_for_one(browser: "Browser", gateway: Gateway,
                                                                      viewport: dict[str, int]) -> None:
    """The whole parent path in the widget, from Family to the reply in the inbox."""
    v = await visit(browser, gateway, viewport)
    await v.open_demo()
    await v.login(JORDAN)
    await v.frame.get_by_role("button", name="Family", exact=True).click()
    await expect(v.frame.get_by_role("heading", name="Family members")).to_be_focused()
    await expect(v.frame.locator("#family-acceptance")).to_have_text("3 business days")
    await v.screen("family-empty")

    for name, born in (("Emma Avery", "2019-04-02"), ("Liam Avery", "2021-09-10")):
        await v.frame.get_by_label("Child's full name").fill(name)
        await v.frame.get_by_label("Date of birth").fill(born)
        await v.frame.get_by_role("button", name="Add family member").click()
        await expect(v.frame.locator("#family-note")).to_contain_text(f"{name.split()[0]} is added")
    await expect(v.frame.locator(".family-item h3")).to_have_text(["Emma Avery", "Liam Avery"])

    for child, typed in (("Emma", "nakamora"), ("Liam", "Nakamura")):
        await v.frame.get_by_role("button", name=f"Link {child} to a doctor").click()
        await expect(v.frame.get_by_label("Doctor's last name")).to_be_focused()
        await v.page.keyboard.type(typed)
        await v.page.keyboard.press("Enter")
        choice = v.frame.get_by_role("button", name="Choose Dr. Emi Nakamura, Pediatrics, Blue Team")
        await expect(choice).to_be_visible()
        if child == "Emma":
            await v.screen("provider-search")
        await choice.click()
        await expect(v.frame.locator("#family-note")).to_contain_text(
            f"Link request sent for {child} to Dr. Emi Nakamura. The clinic answers within 3 business days: "
            "expect an answer by Thursday, November 19 at 4:30 PM CST.")
    items = v.frame.locator(".family-item")
    await expect(items.nth(0)).to_contain_text("Waiting for the clinic")
    await expect(items.nth(1)).to_contain_text("Waiting for the clinic to accept the link to Dr. Emi Nakamura (Blue Team)")
    await v.screen("family-pending")

    await staff_accepts(browser, gateway, viewport)

    await v.frame.get_by_role("button", name="Done").click()  # nothing typed yet: a fresh conversation
    await expect(v.frame.get_by_label("Your message", exact=True)).to_be_focused()
    await v.say("I need to make an appointment")
    assert await v.last_bot() == "Who is this request for?"
    assert await v.replies() == ["Me", "Emma", "Liam"]
    await v.tap("Liam")
    for _ in range(6):
        text = await v.last_bot()
        if "Send this request" in text or await v.replies() == ["Confirm", "Change", "Cancel"]:
            break
        if "reason" in text.lower() or "what is the visit" in text.lower() or "what would you like" in text.lower():
            await v.say("an ear check after his cold")
        elif "when" in text.lower():
            await v.say("Tuesday morning")
        else:
            await v.say("in person")
    assert await v.replies() == ["Confirm", "Change", "Cancel"]
    assert "Liam" in await v.last_bot()
    await v.tap("Confirm")
    await expect(v.frame.locator("#card")).to_contain_text(re.compile(r"Reference: R-\w+"))
    reference = (await v.frame.locator("#card strong").inner_text()).strip()

    engine = gateway.app[gateway_key].engine
    async with db.read(engine) as conn:
        req = (await conn.execute(select(CareRequest))).one()
        liam = [d.id for d in (await conn.execute(select(Dependent.id, Dependent.name_enc))).all()
                if "Liam" in str(gateway.app[K.keyring].decrypt_json(
                    d.name_enc, f"dependents.name_enc|{d.id}"))]
    assert req.dependent_id == liam[0] and req.account_id == await gateway.account_id(JORDAN)

    nurse = await gateway.account_id(BLUE_NURSE)
    await gateway.app[gateway_key].reply(nurse, reference, "Tuesday at 8:20 works for Liam.", now=gateway.clock())
    await v.frame.get_by_role("button", name="Inbox", exact=True).click()
    item = v.frame.locator(".inbox-item:not(.notice)").first  # the notices come first (newest)
    await expect(item).to_contain_text(reference)
    await expect(item.locator(".fields")).to_contain_text("Liam")
    await expect(item.locator(".reply .bubble")).to_have_text("Tuesday at 8:20 works for Liam.")
    await expect(v.frame.locator(".notice")).to_have_count(2)
    await expect(v.frame.locator(".notice").first).to_contain_text("accepted your link")
    await expect(v.frame.locator(".notice h3").first).to_have_text("About your family members")
    await v.screen("inbox-family")

    await v.frame.get_by_role("button", name="Family", exact=True).click()
    await expect(v.frame.locator(".family-item").nth(1)).to_contain_text(
        "Linked to Dr. Emi Nakamura (Blue Team). You can send messages for Liam.")
    await v.screen("family-linked")
    v.check_clean()


async def test_refusals_show_in_the_widget(browser: "Browser", gateway: Gateway) -> None:
    """A misspelled search with no match says so; a too-old child and a second child of the same
    first name are refused with the server's words; nothing is added."""
    v = await visit(browser, gateway)
    await v.open_demo()
    await v.login(JORDAN)
    await v.frame.get_by_role("button", name="Family", exact=True).click()
    await v.frame.get_by_label("Child's full name").fill("Ava Avery")
    await v.frame.get_by_label("Date of birth").fill("2000-01-01")
    await v.frame.get_by_role("button", name="Add family member").click()
    await expect(v.frame.locator("#family-error")).to_contain_text("18 and older need an account of their own")
    await v.frame.get_by_label("Date of birth").fill("2015-01-01")
    await v.frame.get_by_role("button", name="Add family member").click()
    await v.frame.get_by_role("button", name="Link Ava to a doctor").click()
    await v.frame.get_by_label("Doctor's last name").fill("zzzz")
    await v.frame.get_by_role("button", name="Search").click()
    await expect(v.frame.locator("#link-count")).to_contain_text("No doctor found")
    await v.frame.get_by_role("button", name="Back to family members").click()
    await expect(v.frame.locator(".family-item")).to_have_count(1)
    await expect(v.frame.locator(".family-item")).to_contain_text("Not linked to a doctor yet")
    v.check_clean()


def _unused(_: Any) -> None:  # keep the imported fixtures referenced for linters
    return None


_unused((browser, gateway))


async def test_staff_end_a_link_and_the_parent_loses_the_child(browser: "Browser", gateway: Gateway) -> None:
    """On Family links the nurse ends Maria's link to Lucas (custody change, with a note); Maria's chat
    then offers only herself and Sophie, and her inbox says the clinic ended the link."""
    s = await visit(browser, gateway)
    await s.page.goto(gateway.base + "/staff/login")
    await s.page.get_by_label("E-mail address").fill(BLUE_NURSE)
    await s.page.get_by_label("Password").fill(DEMO_PASSWORD)
    await s.page.get_by_role("button", name="Sign in").click()
    await s.page.wait_for_url(re.compile(r"/staff/queue"))
    await s.page.get_by_role("link", name="Family links").click()
    await expect(s.page.get_by_role("heading", name="Family links", exact=True)).to_be_visible()
    item = s.page.locator("li.linked").filter(has_text="Lucas")
    await expect(item).to_contain_text("Maria Santos")
    await s.axe("staff family links", s.page)
    await s.shot("staff-family-links")
    await item.get_by_label("Reason").select_option("custody_change")
    await item.get_by_label("Note (optional, kept sealed)").fill("Court order: custody to the other parent")
    await item.get_by_role("button", name="End link of Maria Santos for Lucas").click()
    await expect(item).to_contain_text("Link ended.")
    s.check_clean()
    await s.page.context.close()

    v = await visit(browser, gateway)
    await v.open_demo()
    await v.login(MARIA)
    await v.say("I need to make an appointment")
    assert await v.last_bot() == "Who is this request for?"
    assert await v.replies() == ["Me", "Sophie"]
    await v.frame.get_by_role("button", name="Inbox", exact=True).click()
    await expect(v.frame.locator(".notice")).to_contain_text("ended your link to Lucas")
    await v.frame.get_by_role("button", name="Family", exact=True).click()
    lucas = v.frame.locator(".family-item").filter(has_text="Lucas")
    await expect(lucas).to_contain_text("The clinic ended this link")
    await v.screen("family-ended")
    v.check_clean()
