"""Intake quality on a real database (SQLite and PostgreSQL): the scripted demo fortnight played
through the real gateway at a fixed time, every figure checked against numbers counted by hand
from ``micare_bot/data/demo_week.yaml``; labeled test runs stored, sealed and compared."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot.clinic_settings import ClinicSettings
from micare_bot.config import Settings
from micare_bot.quality import metrics, queries, testruns
from micare_bot.quality.demo_week import seed_week
from micare_bot.service_cli import seed_demo
from micare_bot.store import audit, db
from micare_bot.store.crypto import keyring_from_settings
from micare_bot.store.schema import AuditEntry, Conversation, LabeledRun

# Sunday 2026-11-22, 6 pm in Chicago: "this week" of the script is Mon 16 - Sat 21, the one before Mon 9 - Fri 13
NOW = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
IDLE = timedelta(minutes=15)


async def seed_fortnight(settings: Settings, clinic: ClinicSettings, now: datetime = NOW) -> tuple[Any, str]:
    """The demo clinic and patients, then the scripted fortnight through the gateway."""
    from micare_bot.quality.staff_actions import script_staff_action

    await seed_demo(settings, now=now - timedelta(days=30))
    keyring = keyring_from_settings(settings)
    engine = db.make_engine(settings.database_url)
    clinic_id = await queries.clinic_id_for(engine, clinic.slug)
    assert clinic_id is not None
    result = await seed_week(engine, keyring, settings, clinic, clinic_id, now=now,
                             staff_action=script_staff_action(engine, keyring, settings, clinic, clinic_id))
    assert (result.conversations, result.filed, result.skipped, result.notes) == (28, 12, False, [])
    await engine.dispose()
    return keyring, clinic_id


@pytest.fixture
async def seeded(engine: AsyncEngine, settings: Settings, clinic_settings: ClinicSettings) -> tuple[Any, str]:
    return await seed_fortnight(settings, clinic_settings)


async def report_for(engine: AsyncEngine, clinic: ClinicSettings, clinic_id: str, since: date, until: date,
                     team: str | None = None) -> metrics.Report:
    period = metrics.Period(since, until, clinic.calendar.timezone)
    scope = await queries.scope_for(engine, clinic_id, team, period)
    return await queries.compute_report(engine, scope, clinic, now=NOW, idle=IDLE)


# The right answers, counted by hand from the script (see the comments there).
OVERVIEW = {"conversations started": 20, "opened without a message": 1, "filed": 9, "redirected (urgent)": 4,
            "cancelled": 2, "abandoned": 5, "in progress": 0, "completion rate": 0.45, "abandonment rate": 0.25,
            "requests filed in the period": 9}
INTENTS = {  # started, filed, redirected, cancelled, abandoned, completion, abandonment, median turns, minutes
    "appointment": (3, 1, 0, 1, 1, 0.3333, 0.3333, 4, 8),
    "refill": (6, 4, 0, 1, 1, 0.6667, 0.1667, 2.5, 5),
    "results": (2, 1, 0, 0, 1, 0.5, 0.5, 3, 6),
    "immunization_copy": (2, 1, 0, 0, 1, 0.5, 0.5, 5, 10),
    "symptom": (6, 2, 4, 0, 0, 0.3333, 0.0, 6, 12),
    "other": (1, 0, 0, 0, 1, 0.0, 1.0, None, None),
}
ABANDONED_AT = {("appointment", "preferred_time"): 1, ("refill", "confirm"): 1, ("results", "test_date"): 1,
                ("immunization_copy", "patient"): 1, ("other", "message"): 1}
RESPONSE = {"requests filed": 9, "answered": 7, "answered in time": 6, "late (answered late or overdue)": 1,
            "overdue, no reply yet": 0, "pending (not yet due)": 2, "share answered in time": 0.8571,
            "median hours to first reply": 3.0, "90th percentile hours to first reply": 26.0}


class TestScriptedFortnight:
    async def test_every_conversation_figure(self, engine: AsyncEngine, seeded: tuple[Any, str],
                                             clinic_settings: ClinicSettings) -> None:
        """Started, outcomes, per-intent rates and medians, abandonment fields and redirects per level."""
        _, clinic_id = seeded
        report = await report_for(engine, clinic_settings, clinic_id, date(2026, 11, 16), date(2026, 11, 22))
        assert dict(report["overview"].rows) == OVERVIEW
        got = {r[0]: (r[1], r[2], r[3], r[4], r[5], r[7], r[8], r[9], r[10]) for r in report["intents"].rows}
        assert got == INTENTS
        assert {(r["intent"], r["field"]): r["abandoned"] for r in report["abandonment"].dicts()} == ABANDONED_AT
        assert dict(report["redirects"].rows) == {"emergency": 1, "crisis": 1, "poison": 1, "same_day": 1}

    async def test_response_time_against_the_target(self, engine: AsyncEngine, seeded: tuple[Any, str],
                                                     clinic_settings: ClinicSettings) -> None:
        """Replies by the due time (1 business day) count in time; a reply after 52 h is late; two not due yet."""
        _, clinic_id = seeded
        report = await report_for(engine, clinic_settings, clinic_id, date(2026, 11, 16), date(2026, 11, 22))
        assert dict(report["response"].rows) == RESPONSE
        assert "1 business day" in report["response"].title

    async def test_week_over_week(self, engine: AsyncEngine, seeded: tuple[Any, str],
                                  clinic_settings: ClinicSettings) -> None:
        """The week before: 7 started, 3 filed, 2 of 3 answered in time (Veterans Day moved one due time)."""
        _, clinic_id = seeded
        report = await report_for(engine, clinic_settings, clinic_id, date(2026, 11, 16), date(2026, 11, 22))
        weekly = report["weekly"].dicts()
        assert [w["week"] for w in weekly] == ["2026-11-09", "2026-11-16"]
        assert [(w["started"], w["filed"], w["completion_rate"], w["abandonment_rate"], w["redirects"],
                 w["share_answered_in_time"]) for w in weekly] == [(7, 3, 0.4286, 0.2857, 1, 0.6667),
                                                                  (20, 9, 0.45, 0.25, 4, 0.8571)]
        assert (weekly[1]["started_change"], weekly[1]["completion_rate_change"],
                weekly[1]["abandonment_rate_change"], weekly[1]["share_in_time_change"]) == (13, 0.0214, -0.0357,
                                                                                              0.1904)

    async def test_a_shorter_period_and_a_team(self, engine: AsyncEngine, seeded: tuple[Any, str],
                                               clinic_settings: ClinicSettings) -> None:
        """Monday alone: 4 started (the opened-only one apart); the blue team is the whole clinic; a bad team is 404."""
        _, clinic_id = seeded
        monday = await report_for(engine, clinic_settings, clinic_id, date(2026, 11, 16), date(2026, 11, 16),
                                  team="blue")
        assert monday["overview"].row("conversations started")["value"] == 4
        assert monday["overview"].row("opened without a message")["value"] == 1
        assert dict(monday["redirects"].rows)["emergency"] == 1
        with pytest.raises(queries.QualityError) as err:
            await report_for(engine, clinic_settings, clinic_id, date(2026, 11, 16), date(2026, 11, 16), team="red")
        assert err.value.status == 404

    async def test_figures_come_from_clear_columns(self, engine: AsyncEngine, seeded: tuple[Any, str]) -> None:
        """The gateway keeps the awaited field and the care team in clear; computing the figures opens nothing."""
        _, clinic_id = seeded
        async with db.read(engine) as conn:
            awaiting = sorted(str(a) for a in (await conn.execute(
                select(Conversation.awaiting).where(Conversation.status.in_(["collecting", "confirming"])))).scalars())
            teams = set((await conn.execute(select(Conversation.care_team_id))).scalars())
        assert awaiting == ["None", "confirm", "confirm", "message", "patient", "preferred_time", "test_date",
                            "test_date"]
        assert None not in teams and len(teams) == 1

    async def test_seeding_twice_adds_nothing(self, engine: AsyncEngine, settings: Settings, seeded: tuple[Any, str],
                                              clinic_settings: ClinicSettings) -> None:
        """A second seed-demo-week finds the fortnight's traffic and leaves it alone."""
        keyring, clinic_id = seeded
        again = await seed_week(engine, keyring, settings, clinic_settings, clinic_id, now=NOW)
        assert again.skipped and again.conversations == 0


UTTERANCES = [
    {"id": "u1", "text": "I need my lisinopril refilled", "intent": "refill", "triage": "routine"},
    {"id": "u2", "text": "can I see my lab results from monday", "intent": "results", "triage": "routine"},
    {"id": "u3", "text": "I have crushing chest pain", "intent": "symptom", "triage": "emergency"},
    {"id": "u4", "text": "book me a flu shot appointment", "intent": "appointment", "triage": "routine"},
]


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


class TestLabeledRuns:
    async def test_evaluate_run_is_stored_sealed_and_compared(self, engine: AsyncEngine, settings: Settings,
                                                              clinic_row: Any, clinic_settings: ClinicSettings) -> None:
        """A run keeps its lexicon version and counts in clear, its lines sealed; the next run lists the line
        that newly fails first and the one that newly passes."""
        keyring = keyring_from_settings(settings)
        first = await testruns.execute(engine, keyring, clinic_settings, clinic_id=clinic_row.id, kind="evaluate",
                                       file_name="../../sets/my set.jsonl", data=jsonl(UTTERANCES), lexicon="live",
                                       dirs=(), actor_id=None, now=NOW)
        changed = [dict(u) for u in UTTERANCES]
        changed[0]["intent"] = "results"  # now wrong on purpose: u1 newly fails
        changed[1]["intent"] = "refill"   # and u2
        second = await testruns.execute(engine, keyring, clinic_settings, clinic_id=clinic_row.id, kind="evaluate",
                                        file_name="my set.jsonl", data=jsonl(changed), lexicon="live", dirs=(),
                                        actor_id=None, now=NOW + timedelta(minutes=5))
        runs = await testruns.list_runs(engine, clinic_row.id)
        assert [r.id for r in runs] == [second, first]
        assert runs[1].file_name == "my_set.jsonl" and runs[1].failed == 0 and runs[1].lines == 4
        assert runs[0].failed == 2 and runs[0].summary["intent"]["accuracy"] == pytest.approx(1 / 3, abs=1e-4)
        assert len(runs[0].lexicon_version) == 12
        async with db.read(engine) as conn:
            stored = (await conn.execute(select(LabeledRun.results_enc, LabeledRun.summary_json))).all()
        for sealed, summary in stored:
            assert "lisinopril" not in sealed and "lisinopril" not in summary

        run, lines, prev, prev_lines = await testruns.load_run(engine, keyring, clinic_row.id, second,
                                                               actor="account:admin", now=NOW)
        assert prev is not None and prev.id == first
        d = testruns.diff(lines, prev_lines)
        assert [x["key"] for x in d["newly_failing"]] == ["u1", "u2"]
        assert d["newly_failing"][0]["text"] == "I need my lisinopril refilled"
        assert d["newly_failing"][0]["expected"] == "results / routine"
        async with db.read(engine) as conn:
            actions = [(a.action, a.target_type) for a in (await conn.execute(select(AuditEntry))).all()]
        assert ("quality.test_run", "test_run") in actions and ("phi.read", "test_run") in actions
        assert (await audit.verify(engine)).ok

    async def test_replay_run_and_a_candidate_lexicon(self, engine: AsyncEngine, settings: Settings, clinic_row: Any,
                                                      clinic_settings: ClinicSettings, tmp_path: Path) -> None:
        """Conversation scripts replay through the real engine; the clinic's additions change the lexicon
        version and make a line pass that failed on the live lexicon."""
        keyring = keyring_from_settings(settings)
        scripts = [{"id": "c1", "patient": {"name": "Dana Reyes", "medications": ["Lisinopril 10 mg tablet"]},
                    "opening": "I need my blood pressure pill refilled", "answers": {"pharmacy": "mail order"},
                    "expect": {"outcome": "filed", "intent": "refill", "fields": {"medication": "lisinopril"}}}]
        run_id = await testruns.execute(engine, keyring, clinic_settings, clinic_id=clinic_row.id, kind="replay",
                                        file_name="scripts.jsonl", data=jsonl(scripts), lexicon="live", dirs=(),
                                        actor_id=None, now=NOW)
        run, lines, _, _ = await testruns.load_run(engine, keyring, clinic_row.id, run_id, actor="cli", now=NOW)
        assert run.kind == "replay" and run.summary["scripts"] == 1 and lines[0]["passed"]
        assert lines[0]["got"].startswith("filed / refill")

        slang = [{"id": "s1", "text": "zorbulate my gizmo", "intent": "refill", "triage": "routine"}]
        live = await testruns.execute(engine, keyring, clinic_settings, clinic_id=clinic_row.id, kind="evaluate",
                                      file_name="slang.jsonl", data=jsonl(slang), lexicon="live", dirs=(),
                                      actor_id=None, now=NOW)
        extra = tmp_path / "lexicon"
        extra.mkdir()
        (extra / "intents.yaml").write_text('intents:\n  refill:\n    6: ["zorbulate"]\n', encoding="utf-8")
        candidate = await testruns.execute(engine, keyring, clinic_settings, clinic_id=clinic_row.id,
                                           kind="evaluate", file_name="slang.jsonl", data=jsonl(slang),
                                           lexicon="candidate", dirs=(extra,), actor_id=None,
                                           now=NOW + timedelta(seconds=1))
        runs = {r.id: r for r in await testruns.list_runs(engine, clinic_row.id)}
        assert runs[live].failed == 1
        assert runs[candidate].failed == 0
        assert runs[candidate].lexicon_version != runs[live].lexicon_version

    @pytest.mark.parametrize("data,code", [
        (b'{"id": "x", "text": "hi"}\n', "invalid_line"),
        (b"not json\n", "invalid_line"),
        (b"\xff\xfe", "not_utf8"),
        (b"\n\n", "empty_file"),
        (b"x" * (testruns.MAX_UPLOAD_BYTES + 1), "file_too_large"),
    ])
    def test_bad_uploads_are_refused_by_line(self, data: bytes, code: str) -> None:
        """A bad file is a clear error naming the line, never a traceback."""
        with pytest.raises(testruns.RunError) as err:
            testruns.parse_upload(data, "evaluate")
        assert err.value.code == code and err.value.status in (413, 422)
