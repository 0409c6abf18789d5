"""The quality dashboard in a real browser: Debian's Chromium driven by Playwright, axe-core on every page.

The real gateway runs on a fresh SQLite database with the demo clinic seeded and the scripted fortnight
played through it at a fixed time (Sunday 2026-11-22, 6 pm Chicago). A clinic admin signs in and reads
every figure, opens the transcript behind one (audited), uploads a labeled file and reads its report.
Screenshots at 1280x800 and 360x740 go to ``test-output/quality/``.

Without Chromium, Playwright or axe-core these tests skip with the reason; with ``CI=true`` they fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from micare_bot.store import db
from micare_bot.store.schema import AuditEntry

from .test_quality import NOW, seed_fortnight
from .test_widget_browser import AXE, DESKTOP, PHONE, Clock, b64key, browser  # noqa: F401 (the browser fixture)

try:
    from playwright.async_api import Browser, Page, expect
except ImportError:  # pragma: no cover - the browser fixture skips or fails with the reason
    pass

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output" / "quality"
ADMIN = "robin.hale@riverside-clinic.example"
PERIOD = "since=2026-11-16&until=2026-11-22"


@pytest.fixture
async def site(tmp_path: Path, aiohttp_server: Any) -> tuple[str, Any]:
    """The real app on a seeded SQLite database with the demo fortnight, listening on loopback."""
    from micare_bot.app import create_app
    from micare_bot.clinic_settings import load_clinic_file
    from micare_bot.config import Settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'micare.db'}"
    settings = Settings.from_env({"MICARE_DATABASE_URL": url, "MICARE_KEYS": f"k1:{b64key()}",
                                  "MICARE_INDEX_KEY": b64key()})
    engine = db.make_engine(url)
    try:
        await db.upgrade(engine)
    finally:
        await engine.dispose()
    await seed_fortnight(settings, load_clinic_file(settings.clinic_file))
    app = create_app(settings, clock=Clock(NOW), send_mail=False)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/"), app


async def signed_in_page(browser: "Browser", base: str, viewport: dict[str, int]) -> tuple["Page", list[str]]:
    context = await browser.new_context(viewport=viewport, reduced_motion="reduce")
    resp = await context.request.post(base + "/api/v1/staff/session",
                                      data=json.dumps({"email": ADMIN, "password": "demo-password-2026"}),
                                      headers={"Content-Type": "application/json", "Origin": base})
    assert resp.status == 200, await resp.text()
    page = await context.new_page()
    problems: list[str] = []
    def on_console(m: Any) -> None:
        # the browser's own favicon request is not ours; CSP refusals and script errors are
        url = m.location.get("url") or ""
        if m.type == "error" and url and not url.endswith("/favicon.ico"):
            problems.append(f"{m.text} at {url}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page, problems


async def axe(page: "Page", name: str, size: str) -> None:
    """axe-core on the page: no serious or critical violation."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
    bad = [v for v in result if v["impact"] in {"serious", "critical"}]
    assert not bad, f"axe-core on the {name} page ({size}): {bad}"
    OUT.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(OUT / f"{name}-{size}.png"), full_page=True)


async def cell(page: "Page", table: str, row: str, column: int) -> str:
    """The text of a table cell: the row whose header is ``row``, the ``column``-th data cell (from 1)."""
    tr = page.locator(f"#{table} tbody tr").filter(has=page.locator("th", has_text=row)).first
    return (await tr.locator("td").nth(column - 1).inner_text()).strip()


@pytest.mark.parametrize("viewport", [pytest.param(DESKTOP, id="1280x800"), pytest.param(PHONE, id="360x740")])
async def test_admin_reads_every_figure(browser: "Browser", site: tuple[str, Any], viewport: dict[str, int]) -> None:
    """The dashboard for the scripted week shows each figure right, as cards, tables and charts."""
    base, _ = site
    size = f"{viewport['width']}x{viewport['height']}"
    page, problems = await signed_in_page(browser, base, viewport)
    await page.goto(f"{base}/staff/quality?{PERIOD}")
    await expect(page.get_by_role("heading", name="Intake quality", level=1)).to_be_visible()
    cards = {k: (await page.locator(f'[data-figure="{k}"]').inner_text()).strip()
             for k in ("started", "filed", "completion", "abandonment", "redirects", "relabeled", "in-time")}
    assert cards == {"started": "20", "filed": "9", "completion": "45.0%", "abandonment": "25.0%",
                     "redirects": "4", "relabeled": "22.2%", "in-time": "85.7%"}
    # per intent: started, filed, ... completion (7th), median turns (9th), median minutes (10th)
    assert [await cell(page, "t-intents", "refill", i) for i in (1, 2, 5, 7, 9, 10)] == \
        ["6", "4", "1", "66.7%", "2.5", "5"]
    assert await cell(page, "t-abandonment", "results", 1) == "test_date"
    assert [await cell(page, "t-redirects", level, 1) for level in ("emergency", "crisis", "poison", "same_day")] \
        == ["1", "1", "1", "1"]
    assert [await cell(page, "t-relabels", "symptom", i) for i in (1, 2)] == ["appointment", "1"]
    assert [await cell(page, "t-asked", "immunization_copy", i) for i in (1, 2)] == ["purpose", "1"]
    assert await cell(page, "t-response", "share answered in time", 1) == "85.7%"
    assert await cell(page, "t-response", "pending (not yet due)", 1) == "2"
    assert [await cell(page, "t-weekly", "2026-11-16", i) for i in (1, 3, 9)] == ["20", "45.0%", "+2.1 pts"]
    assert await page.locator("svg.chart[role=img]").count() == 5
    await expect(page.locator("svg.chart title").first).to_have_text("Completion rate per intent")
    await axe(page, "dashboard", size)
    assert not problems, problems


async def test_transcript_behind_a_figure_is_audited(browser: "Browser", site: tuple[str, Any]) -> None:
    """From 'abandoned at confirm' to the conversation list (no words) to one transcript, audited."""
    base, app = site
    page, problems = await signed_in_page(browser, base, DESKTOP)
    await page.goto(f"{base}/staff/quality?{PERIOD}")
    await page.get_by_role("link", name="1 abandoned at confirm (refill): samples").click()
    await expect(page.get_by_role("heading", name="Conversations behind a figure")).to_be_visible()
    await expect(page.locator("#t-samples tbody tr")).to_have_count(1)
    assert "furosemide" not in (await page.content()).lower()
    await axe(page, "samples", "1280x800")
    await page.locator("#t-samples a").first.click()
    await expect(page.get_by_role("heading", name="Transcript")).to_be_visible()
    await expect(page.locator(".transcript .from-patient").first).to_contain_text("refill my furosemide")
    await axe(page, "transcript", "1280x800")
    from micare_bot.app import engine_key

    async with db.read(app[engine_key]) as conn:
        details = [json.loads(d) for d in (await conn.execute(
            select(AuditEntry.detail).where(AuditEntry.action == "phi.read"))).scalars()]
    assert {"view": "quality.sample"} in details
    assert not problems, problems


async def test_upload_a_labeled_file_and_read_its_report(browser: "Browser", site: tuple[str, Any],
                                                        tmp_path: Path) -> None:
    """Upload utterances, then a changed copy: the second report lists the newly failing line first."""
    base, _ = site
    page, problems = await signed_in_page(browser, base, DESKTOP)
    lines = [{"id": "a", "text": "I need my losartan refilled", "intent": "refill", "triage": "routine"},
             {"id": "b", "text": "I have crushing chest pain", "intent": "symptom", "triage": "emergency"}]
    first = tmp_path / "clinic-set.jsonl"
    first.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    await page.goto(f"{base}/staff/quality/runs")
    await axe(page, "runs", "1280x800")
    await page.get_by_label("Labeled file (JSONL)").set_input_files(str(first))
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_role("heading", name="Test run: clinic-set.jsonl")).to_be_visible()
    assert (await page.locator('[data-figure="failed"]').inner_text()).strip() == "0"
    await expect(page.get_by_text("Every line passed.")).to_be_visible()

    lines[0]["intent"] = "results"
    first.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    await page.goto(f"{base}/staff/quality/runs")
    await page.get_by_label("Labeled file (JSONL)").set_input_files(str(first))
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_role("heading", name="Newly failing (passed in the previous run) (1)")).to_be_visible()
    first_table = page.locator("table.lines").first
    await expect(first_table).to_have_id("t-newly_failing")
    await expect(first_table.locator("tbody tr")).to_contain_text("I need my losartan refilled")
    await axe(page, "run-report", "1280x800")

    assert not problems, problems
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "text": "hi"}\n', encoding="utf-8")
    await page.goto(f"{base}/staff/quality/runs")
    await page.get_by_label("Labeled file (JSONL)").set_input_files(str(bad))
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_role("alert")).to_contain_text("line 1: missing intent, triage")
    await expect(page.get_by_label("Labeled file (JSONL)")).to_be_visible()  # the form again, to fix and retry
    # the browser logs the refused upload's 422 answer; nothing else may go wrong
    assert [p for p in problems if "status of 422" not in p] == [], problems
