"""The pure quality figures: rows whose right answers are counted by hand, one behaviour per test."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from micare_bot.quality import charts, export, metrics
from micare_bot.quality.metrics import ConversationRow, Period, RequestRow, StaffEventRow
from micare_bot.quality.testruns import diff

CHI = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 22, 18, 0, tzinfo=CHI)  # a Sunday evening
IDLE = timedelta(minutes=15)
WEEK = Period(date(2026, 11, 16), date(2026, 11, 22), CHI)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=CHI)


def conv(cid: str, start: datetime, status: str, intent: str | None, *, turns: int = 2, minutes: float = 4,
         awaiting: str | None = None, triage: str = "routine") -> ConversationRow:
    end = start + timedelta(minutes=minutes)
    return ConversationRow(cid, start, end, status, intent, triage, turns, awaiting,
                           end if status == "filed" else None)


def compute(convs: list[ConversationRow], reqs: list[RequestRow] = [], events: list[StaffEventRow] = [],
            now: datetime = NOW) -> metrics.Report:
    return metrics.compute(convs, reqs, events, period=WEEK, now=now, idle=IDLE, target="1 business day")


class TestOutcomes:
    def test_open_and_quiet_past_the_idle_time_is_abandoned(self) -> None:
        """An open conversation quiet for the idle time is abandoned; one quiet for less is in progress."""
        quiet = conv("a", NOW - timedelta(minutes=20), "collecting", "refill", minutes=0, awaiting="pharmacy")
        live = conv("b", NOW - timedelta(minutes=5), "collecting", "refill", minutes=0, awaiting="pharmacy")
        report = compute([quiet, live])
        assert report["overview"].row("abandoned")["value"] == 1
        assert report["overview"].row("in progress")["value"] == 1
        assert report["intents"].row("refill")["abandonment_rate"] == 1.0  # in progress is not in the rate

    def test_closed_conversations_are_never_abandoned(self) -> None:
        """Filed, redirected and cancelled conversations keep their outcome however old."""
        rows = [conv("f", at(16, 9), "filed", "refill"), conv("r", at(16, 10), "redirected", "symptom",
                                                              triage="crisis"),
                conv("c", at(16, 11), "cancelled", "refill")]
        overview = compute(rows)["overview"]
        assert [overview.row(k)["value"] for k in ("filed", "redirected (urgent)", "cancelled", "abandoned")] \
            == [1, 1, 1, 0]

    def test_a_conversation_without_a_patient_message_is_not_started(self) -> None:
        """Opening the chat and typing nothing counts apart and in no rate."""
        report = compute([conv("o", at(17, 8), "collecting", None, turns=0, minutes=0),
                          conv("f", at(17, 9), "filed", "refill")])
        assert report["overview"].row("conversations started")["value"] == 1
        assert report["overview"].row("opened without a message")["value"] == 1
        assert report["overview"].row("completion rate")["value"] == 1.0

    def test_only_the_period_counts(self) -> None:
        """A conversation started the day before the period is not in its figures (but is in the trend)."""
        report = compute([conv("old", at(15, 23), "filed", "refill"), conv("new", at(16, 0, 30), "filed", "refill")])
        assert report["overview"].row("conversations started")["value"] == 1
        assert report["weekly"].rows[0][1] == 1  # the week of Nov 9 has the old one


class TestPerIntent:
    def test_rates_medians_and_abandonment_fields(self) -> None:
        """Per intent: counts, completion and abandonment over ended ones, medians over filed ones."""
        rows = [
            conv("1", at(16, 9), "filed", "refill", turns=2, minutes=3),
            conv("2", at(16, 10), "filed", "refill", turns=4, minutes=9),
            conv("3", at(16, 11), "filed", "refill", turns=3, minutes=5),
            conv("4", at(17, 9), "collecting", "refill", turns=1, awaiting="pharmacy"),
            conv("5", at(17, 10), "confirming", "refill", turns=2, awaiting="confirm"),
            conv("6", at(17, 11), "collecting", "appointment", turns=1, awaiting="preferred_time"),
            conv("7", at(18, 9), "collecting", None, turns=1, awaiting=None),
        ]
        report = compute(rows)
        refill = report["intents"].row("refill")
        assert (refill["started"], refill["filed"], refill["abandoned"]) == (5, 3, 2)
        assert refill["completion_rate"] == 0.6 and refill["abandonment_rate"] == 0.4
        assert refill["median_turns_to_file"] == 3 and refill["median_minutes_to_file"] == 5
        assert report["intents"].column("intent") == ["appointment", "refill", metrics.UNCLEAR]
        fields = {(r["intent"], r["field"]): r["abandoned"] for r in report["abandonment"].dicts()}
        assert fields == {("refill", "pharmacy"): 1, ("refill", "confirm"): 1, ("appointment", "preferred_time"): 1,
                          (metrics.UNCLEAR, metrics.UNCLEAR): 1}

    def test_redirects_per_level_list_every_urgent_level(self) -> None:
        """Each urgent level has a row, zero when nothing was redirected at that level."""
        rows = [conv(str(i), at(16, 9 + i), "redirected", "symptom", triage=level, turns=1)
                for i, level in enumerate(["crisis", "crisis", "poison"])]
        redirects = dict(compute(rows)["redirects"].rows)
        assert redirects == {"emergency": 0, "crisis": 2, "poison": 1, "same_day": 0}


def req(rid: str, intent: str, filed: datetime, due: datetime, reply: datetime | None) -> RequestRow:
    return RequestRow(rid, intent, filed, due, reply)


class TestStaffFigures:
    def test_relabels_count_each_request_once_by_its_last_label(self) -> None:
        """Re-labeled twice counts once, under the last intent; a re-label back to the bot's intent is no error."""
        reqs = [req(f"r{i}", "symptom", at(16, 9), at(17, 16), None) for i in range(4)]
        events = [
            StaffEventRow("r0", "relabeled", "symptom", "refill"),
            StaffEventRow("r0", "relabeled", "refill", "appointment"),
            StaffEventRow("r1", "relabeled", "symptom", "appointment"),
            StaffEventRow("r2", "relabeled", "symptom", "refill"),
            StaffEventRow("r2", "relabeled", "refill", "symptom"),
            StaffEventRow("elsewhere", "relabeled", "symptom", "refill"),
        ]
        report = compute([], reqs, events)
        assert report["relabels"].rows == [("symptom", "appointment", 2, 0.5)]
        assert metrics.relabel_share(report) == 0.5

    def test_asked_again_counts_requests_per_field(self) -> None:
        """A field asked again twice on one request counts that request once."""
        reqs = [req("a", "refill", at(16, 9), at(17, 16), None), req("b", "refill", at(16, 9), at(17, 16), None)]
        events = [StaffEventRow("a", "replied", asked_fields=("pharmacy",)),
                  StaffEventRow("a", "replied", asked_fields=("pharmacy", "medication")),
                  StaffEventRow("b", "replied", asked_fields=("pharmacy",))]
        rows = {(r["intent"], r["field"]): (r["requests"], r["share_of_intent"])
                for r in compute([], reqs, events)["asked_again"].dicts()}
        assert rows == {("refill", "pharmacy"): (2, 1.0), ("refill", "medication"): (1, 0.5)}

    def test_response_time_in_time_late_overdue_and_pending(self) -> None:
        """In time by the due time; late replies and overdue silence are late; not-yet-due silence is pending."""
        reqs = [
            req("ontime", "refill", at(16, 9), at(17, 16, 30), at(16, 12)),      # 3 h
            req("edge", "refill", at(16, 9), at(17, 16, 30), at(17, 16, 30)),    # exactly at the due time
            req("late", "refill", at(16, 9), at(17, 16, 30), at(18, 10)),        # 49 h
            req("silent", "refill", at(18, 9), at(19, 16, 30), None),            # overdue
            req("pending", "refill", at(21, 9), at(23, 16, 30), None),           # due tomorrow
        ]
        resp = dict(compute([], reqs)["response"].rows)
        assert resp["answered"] == 3 and resp["answered in time"] == 2
        assert resp["late (answered late or overdue)"] == 2 and resp["overdue, no reply yet"] == 1
        assert resp["pending (not yet due)"] == 1
        assert resp["share answered in time"] == 0.5
        assert resp["median hours to first reply"] == 31.5


class TestWeekly:
    def test_weeks_start_on_monday_with_the_week_before_and_changes(self) -> None:
        """The trend has the week before the period and each week in it, with the change from the week before."""
        period = Period(date(2026, 11, 18), date(2026, 11, 24), CHI)  # Wednesday to Tuesday
        rows = [conv("a", at(10, 9), "filed", "refill"), conv("b", at(10, 10), "cancelled", "refill"),
                conv("c", at(17, 9), "filed", "refill"), conv("d", at(23, 9), "filed", "refill"),
                conv("e", at(24, 9), "filed", "refill")]
        weekly = metrics.compute(rows, [], [], period=period, now=datetime(2026, 11, 25, tzinfo=CHI), idle=IDLE)
        table = weekly["weekly"]
        assert table.column("week") == ["2026-11-09", "2026-11-16", "2026-11-23"]
        assert table.column("started") == [2, 1, 2]
        assert table.column("completion_rate") == [0.5, 1.0, 1.0]
        assert table.column("started_change") == [None, -1, 1]
        assert table.column("completion_rate_change") == [None, 0.5, 0.0]

    def test_period_dates_are_clinic_local(self) -> None:
        """11:30 pm Sunday in Chicago is 5:30 am Monday UTC and still belongs to Sunday."""
        late_sunday = datetime(2026, 11, 23, 5, 30, tzinfo=timezone.utc)
        assert WEEK.contains(late_sunday)
        assert not WEEK.contains(late_sunday + timedelta(hours=1))


class TestOutputs:
    def test_text_report_names_every_table(self) -> None:
        """The text report has every table's title and a dash for a missing value."""
        text = metrics.format_text(compute([conv("a", at(16, 9), "cancelled", "refill")]), clinic="demo")
        for name in metrics.TABLE_NAMES:
            assert compute([])[name].title in text
        assert "refill" in text and " - " in text

    def test_csv_quotes_and_neutralises_formulas(self) -> None:
        """CSV has a header, quotes commas, and never starts a cell with a formula character."""
        table = metrics.Table("t", "T", ("intent", "n"), [("=HYPERLINK(1)", 2), ("a,b", None)])
        assert export.to_csv(table) == "intent,n\r\n'=HYPERLINK(1),2\r\n\"a,b\",\r\n"

    def test_bar_chart_is_accessible_svg_with_escaped_labels(self) -> None:
        """A bar chart is an <svg role=img> whose title and description carry the numbers; labels are escaped."""
        svg = str(charts.bar_chart("c1", "Redirects", [("<b>crisis</b>", 2), ("poison", 0)]))
        assert svg.startswith("<svg") and 'role="img"' in svg
        assert "&lt;b&gt;crisis&lt;/b&gt;: 2; poison: 0" in svg
        assert "<b>" not in svg and "style=" not in svg and "<script" not in svg

    def test_line_chart_leaves_a_gap_for_a_missing_week(self) -> None:
        """A week without data is no point and breaks the line."""
        svg = str(charts.line_chart("c2", "Completion", ["2026-11-02", "2026-11-09", "2026-11-16"],
                                    [("completion", [0.5, None, 0.75])], percent=True))
        assert svg.count("<circle") == 2 and "<polyline" not in svg
        assert "week of 2026-11-09 no data" in svg


class TestRunDiff:
    def test_newly_failing_lines_come_first(self) -> None:
        """Compared with the previous run: newly failing, new failing, still failing, newly passing, removed."""
        before = [{"key": "a", "passed": True}, {"key": "b", "passed": False}, {"key": "c", "passed": False},
                  {"key": "gone", "passed": True}]
        now = [{"key": "a", "passed": False}, {"key": "b", "passed": False}, {"key": "c", "passed": True},
               {"key": "new", "passed": False}]
        d = diff(now, before)
        assert [x["key"] for x in d["newly_failing"]] == ["a"]
        assert [x["key"] for x in d["new_failing"]] == ["new"]
        assert [x["key"] for x in d["still_failing"]] == ["b"]
        assert [x["key"] for x in d["newly_passing"]] == ["c"]
        assert [x["key"] for x in d["removed"]] == ["gone"]
        assert list(d) [0] == "newly_failing"

    @pytest.mark.parametrize("previous", [None, []])
    def test_without_a_previous_run_every_failure_is_listed(self, previous: list | None) -> None:
        """The first run lists its failures; nothing is 'newly' anything."""
        d = diff([{"key": "a", "passed": False}, {"key": "b", "passed": True}], previous)
        failing = d["still_failing"] + d["new_failing"]
        assert [x["key"] for x in failing] == ["a"] and not d["newly_failing"]
