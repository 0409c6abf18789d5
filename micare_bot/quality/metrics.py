"""Intake quality figures: plain rows in, figures out. No I/O, no clock, no PHI.

The rows carry only clear columns (statuses, intents, triage levels, counts and
times); ``queries.py`` reads them from the database, the dashboard, the CSV
export and ``micare-bot report`` all print what ``compute`` returns.

Definitions (also in docs/quality.md):

* A conversation is **started** when the patient sent at least one message
  (``turns >= 1``); one opened and never answered is counted apart as
  *opened without a message* and in no rate.
* Its **outcome** is ``filed``, ``redirected`` or ``cancelled`` when it closed
  that way. An open conversation is **abandoned** when no turn came for
  ``idle`` (by default the patient session's idle time: the session has ended
  by then) before ``now``; otherwise it is still ``in_progress``. A patient who
  comes back later turns an abandoned conversation back into one in progress:
  the figures always describe the state at ``now``.
* The **field at which patients abandon** is the field the bot was
  ``awaiting`` when the conversation went quiet: a field name, ``confirm``
  (the read-back) or ``(intent unclear)`` (still asking what they want).
* Per-intent rates divide by the conversations of that intent that have
  **ended** (filed + redirected + cancelled + abandoned); in-progress ones
  are left out until they end. The intent is the conversation's last one.
* **Turns** are patient messages; **time to file** runs from the conversation's
  start to the filing. Both are medians over filed conversations.
* **Response time** runs from filing to the care team's first reply. A request
  is **answered in time** when that reply came by its due time (computed from
  the clinic's response target when it was filed). A request with no reply
  whose due time has passed counts as late; one not yet due is *pending* and
  left out of the share.
* A request is **re-labeled** when staff changed its intent; the share is of
  requests filed in the period. **Asked again** counts, per intent and field,
  the requests where staff had to ask the patient again for a field.
* The period is in the clinic's local dates: conversations by their start,
  requests (and what staff did to them) by their filing.
* **Weeks** run Monday to Sunday in the clinic's time zone; the trend table
  has every week that overlaps the period, plus the week before it, each with
  its change from the week before.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Iterable, Mapping, Sequence

from ..models import INTENTS, URGENT_LEVELS

UNCLEAR = "(intent unclear)"
OUTCOMES: tuple[str, ...] = ("filed", "redirected", "cancelled", "abandoned", "in_progress")
ENDED: frozenset[str] = frozenset({"filed", "redirected", "cancelled", "abandoned"})


# --- rows in -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationRow:
    id: str
    created_at: datetime
    updated_at: datetime
    status: str  # collecting | confirming | filed | redirected | cancelled
    intent: str | None
    triage: str
    turns: int  # patient messages
    awaiting: str | None
    filed_at: datetime | None = None  # the care request's filing time, when filed


@dataclass(frozen=True)
class RequestRow:
    id: str
    intent: str  # the intent the bot filed it under
    filed_at: datetime
    due_at: datetime
    first_reply_at: datetime | None


@dataclass(frozen=True)
class StaffEventRow:
    """What staff did to a request: only re-labels and asked-again fields matter here."""

    request_id: str
    kind: str  # relabeled | asked | …
    from_intent: str | None = None
    to_intent: str | None = None
    asked_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Period:
    start: date  # first day, clinic-local
    end: date  # last day, inclusive
    tz: tzinfo

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("the period ends before it starts")

    def contains(self, at: datetime) -> bool:
        return self.start <= at.astimezone(self.tz).date() <= self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def weeks(self) -> list[date]:
        """Mondays of the week before the period and of every week overlapping it."""
        first = self.start - timedelta(days=self.start.weekday()) - timedelta(days=7)
        out = []
        monday = first
        while monday <= self.end:
            out.append(monday)
            monday += timedelta(days=7)
        return out

    @property
    def load_from(self) -> date:
        """The first local date whose rows the figures need (the trend's first week)."""
        return self.weeks()[0]


# --- figures out ----------------------------------------------------------------------------


@dataclass
class Table:
    """One table of figures: what the dashboard shows, a CSV file, a block of the text report."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    note: str = ""

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def row(self, key: Any) -> dict[str, Any]:
        """The row whose first cell is ``key``."""
        for row in self.rows:
            if row[0] == key:
                return dict(zip(self.columns, row))
        raise KeyError(key)


@dataclass
class Report:
    period: Period
    now: datetime
    tables: dict[str, Table]

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": {"since": self.period.start.isoformat(), "until": self.period.end.isoformat()},
            "as_of": self.now.isoformat(),
            "tables": {name: {"title": t.title, "note": t.note, "rows": t.dicts()} for name, t in self.tables.items()},
        }


# --- helpers ------------------------------------------------------------------------------------


def outcome(conv: ConversationRow, now: datetime, idle: timedelta) -> str:
    if conv.status in ("filed", "redirected", "cancelled"):
        return conv.status
    return "abandoned" if now - conv.updated_at >= idle else "in_progress"


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _intent_order(intents: Iterable[str]) -> list[str]:
    present = set(intents)
    return [i for i in INTENTS if i in present] + sorted(present - set(INTENTS))


def change(now: float | None, before: float | None) -> float | None:
    if now is None or before is None:
        return None
    return round(now - before, 4)


# --- the computation ----------------------------------------------------------------------------


def compute(conversations: Iterable[ConversationRow], requests: Iterable[RequestRow],
            events: Iterable[StaffEventRow], *, period: Period, now: datetime, idle: timedelta,
            target: str = "") -> Report:
    """Every figure of the dashboard for ``period`` as of ``now``; rows may reach back to
    ``period.load_from`` (the trend's first week), older or newer ones are ignored."""
    convs = list(conversations)
    reqs = list(requests)
    evs = list(events)
    in_period = [c for c in convs if period.contains(c.created_at)]
    reqs_in = [r for r in reqs if period.contains(r.filed_at)]
    tables: dict[str, Table] = {}
    tables["overview"] = _overview(in_period, reqs_in, now, idle)
    tables["intents"] = _per_intent(in_period, now, idle)
    tables["abandonment"] = _abandonment(in_period, now, idle)
    tables["redirects"] = _redirects(in_period)
    tables["relabels"] = _relabels(reqs_in, evs)
    tables["asked_again"] = _asked_again(reqs_in, evs)
    tables["response"] = _response(reqs_in, now, target)
    tables["weekly"] = _weekly(convs, reqs, period, now, idle)
    return Report(period, now, tables)


def _started(convs: Iterable[ConversationRow]) -> list[ConversationRow]:
    return [c for c in convs if c.turns >= 1]


def _overview(convs: list[ConversationRow], reqs: list[RequestRow], now: datetime, idle: timedelta) -> Table:
    started = _started(convs)
    outcomes = Counter(outcome(c, now, idle) for c in started)
    ended = sum(outcomes[o] for o in ENDED)
    t = Table("overview", "Overview", ("figure", "value"),
              note="Rates are of conversations that have ended (in-progress ones are left out).")
    t.rows = [
        ("conversations started", len(started)),
        ("opened without a message", len(convs) - len(started)),
        ("filed", outcomes["filed"]),
        ("redirected (urgent)", outcomes["redirected"]),
        ("cancelled", outcomes["cancelled"]),
        ("abandoned", outcomes["abandoned"]),
        ("in progress", outcomes["in_progress"]),
        ("completion rate", rate(outcomes["filed"], ended)),
        ("abandonment rate", rate(outcomes["abandoned"], ended)),
        ("requests filed in the period", len(reqs)),
    ]
    return t


def _per_intent(convs: list[ConversationRow], now: datetime, idle: timedelta) -> Table:
    by_intent: dict[str, list[ConversationRow]] = defaultdict(list)
    for c in _started(convs):
        by_intent[c.intent or UNCLEAR].append(c)
    t = Table("intents", "Per intent",
              ("intent", "started", "filed", "redirected", "cancelled", "abandoned", "in_progress",
               "completion_rate", "abandonment_rate", "median_turns_to_file", "median_minutes_to_file"),
              note="Rates are of ended conversations; turns are patient messages; medians over filed ones.")
    for intent in _intent_order(by_intent):
        group = by_intent[intent]
        oc = Counter(outcome(c, now, idle) for c in group)
        ended = sum(oc[o] for o in ENDED)
        filed = [c for c in group if outcome(c, now, idle) == "filed"]
        turns = [float(c.turns) for c in filed]
        minutes = [(c.filed_at - c.created_at).total_seconds() / 60 for c in filed if c.filed_at is not None]
        t.rows.append((intent, len(group), oc["filed"], oc["redirected"], oc["cancelled"], oc["abandoned"],
                       oc["in_progress"], rate(oc["filed"], ended), rate(oc["abandoned"], ended),
                       _round(median(turns)), _round(median(minutes))))
    return t


def _abandonment(convs: list[ConversationRow], now: datetime, idle: timedelta) -> Table:
    counts: Counter[tuple[str, str]] = Counter()
    for c in _started(convs):
        if outcome(c, now, idle) == "abandoned":
            counts[(c.intent or UNCLEAR, c.awaiting or UNCLEAR)] += 1
    total = sum(counts.values())
    t = Table("abandonment", "Where patients abandon", ("intent", "field", "abandoned", "share"),
              note="The field the bot was waiting for when the conversation went quiet; "
                   "'confirm' is the read-back.")
    order = {intent: i for i, intent in enumerate(_intent_order(k[0] for k in counts))}
    for (intent, fld), n in sorted(counts.items(), key=lambda kv: (order[kv[0][0]], -kv[1], kv[0][1])):
        t.rows.append((intent, fld, n, rate(n, total)))
    return t


def _redirects(convs: list[ConversationRow]) -> Table:
    counts = Counter(c.triage for c in _started(convs) if c.status == "redirected")
    t = Table("redirects", "Urgent redirects per triage level", ("level", "redirects"),
              note="Conversations the bot closed and sent to 911, 988, Poison Control or the nurse line.")
    t.rows = [(level, counts.get(level, 0)) for level in URGENT_LEVELS]
    t.rows += [(level, n) for level, n in sorted(counts.items()) if level not in URGENT_LEVELS]
    return t


def _relabels(reqs: list[RequestRow], events: list[StaffEventRow]) -> Table:
    ids = {r.id for r in reqs}
    filed_as = {r.id: r.intent for r in reqs}
    # a request re-labeled twice counts once, from the bot's intent to the last one staff chose
    last: dict[str, str] = {}
    for e in events:
        if e.kind == "relabeled" and e.request_id in ids and e.to_intent:
            last[e.request_id] = e.to_intent
    pairs = Counter((filed_as[rid], to) for rid, to in last.items() if to != filed_as[rid])
    wrong = sum(pairs.values())
    t = Table("relabels", "Staff re-labels (the bot's intent was wrong)",
              ("bot_intent", "staff_intent", "requests", "share_of_bot_intent"),
              note=f"{wrong} of {len(reqs)} filed requests re-labeled "
                   f"({'-' if not reqs else format(wrong / len(reqs), '.1%')}).")
    filed_per = Counter(r.intent for r in reqs)
    for (src, dst), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
        t.rows.append((src, dst, n, rate(n, filed_per[src])))
    return t


def relabel_share(report: Report) -> float | None:
    filed = report["overview"].row("requests filed in the period")["value"]
    return rate(sum(report["relabels"].column("requests")), filed)


def _asked_again(reqs: list[RequestRow], events: list[StaffEventRow]) -> Table:
    ids = {r.id: r.intent for r in reqs}
    asked: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in events:
        if e.request_id in ids:
            for fld in e.asked_fields:
                asked[(ids[e.request_id], fld)].add(e.request_id)
    filed_per = Counter(ids.values())
    t = Table("asked_again", "Fields staff had to ask again for", ("intent", "field", "requests", "share_of_intent"),
              note="Requests where staff asked the patient again for a field the bot had collected or skipped.")
    for (intent, fld), rids in sorted(asked.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        t.rows.append((intent, fld, len(rids), rate(len(rids), filed_per[intent])))
    return t


def _response_figures(reqs: list[RequestRow], now: datetime) -> dict[str, Any]:
    answered = [r for r in reqs if r.first_reply_at is not None]
    in_time = sum(1 for r in answered if r.first_reply_at <= r.due_at)  # type: ignore[operator]
    late_unanswered = sum(1 for r in reqs if r.first_reply_at is None and r.due_at <= now)
    pending = sum(1 for r in reqs if r.first_reply_at is None and r.due_at > now)
    hours = [(r.first_reply_at - r.filed_at).total_seconds() / 3600 for r in answered]  # type: ignore[operator]
    judged = len(answered) + late_unanswered
    return {"filed": len(reqs), "answered": len(answered), "in_time": in_time,
            "late": len(answered) - in_time + late_unanswered, "unanswered_overdue": late_unanswered,
            "pending": pending, "share_in_time": rate(in_time, judged),
            "median_hours": _round(median(hours)), "p90_hours": _round(_p90(hours))}


def _p90(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def _response(reqs: list[RequestRow], now: datetime, target: str) -> Table:
    f = _response_figures(reqs, now)
    t = Table("response", f"Response time against the target ({target or 'the clinic target'})", ("figure", "value"),
              note="In time: the first care-team reply came by the request's due time. Unanswered and past due "
                   "counts as late; not yet due is pending and left out of the share.")
    t.rows = [
        ("requests filed", f["filed"]),
        ("answered", f["answered"]),
        ("answered in time", f["in_time"]),
        ("late (answered late or overdue)", f["late"]),
        ("overdue, no reply yet", f["unanswered_overdue"]),
        ("pending (not yet due)", f["pending"]),
        ("share answered in time", f["share_in_time"]),
        ("median hours to first reply", f["median_hours"]),
        ("90th percentile hours to first reply", f["p90_hours"]),
    ]
    return t


def _weekly(convs: list[ConversationRow], reqs: list[RequestRow], period: Period, now: datetime,
            idle: timedelta) -> Table:
    t = Table("weekly", "Week over week",
              ("week", "started", "filed", "completion_rate", "abandonment_rate", "redirects",
               "median_minutes_to_file", "share_answered_in_time",
               "started_change", "completion_rate_change", "abandonment_rate_change", "share_in_time_change"),
              note="Weeks start on Monday (clinic time); changes are from the week before. "
                   "The first row is the week before the period.")
    prev: dict[str, Any] | None = None
    for monday in period.weeks():
        week = Period(monday, monday + timedelta(days=6), period.tz)
        started = _started(c for c in convs if week.contains(c.created_at))
        oc = Counter(outcome(c, now, idle) for c in started)
        ended = sum(oc[o] for o in ENDED)
        minutes = [(c.filed_at - c.created_at).total_seconds() / 60 for c in started
                   if c.status == "filed" and c.filed_at is not None]
        resp = _response_figures([r for r in reqs if week.contains(r.filed_at)], now)
        cur = {"started": len(started), "completion": rate(oc["filed"], ended),
               "abandonment": rate(oc["abandoned"], ended), "in_time": resp["share_in_time"]}
        t.rows.append((monday.isoformat(), len(started), oc["filed"], cur["completion"], cur["abandonment"],
                       oc["redirected"], _round(median(minutes)), cur["in_time"],
                       None if prev is None else cur["started"] - prev["started"],
                       None if prev is None else change(cur["completion"], prev["completion"]),
                       None if prev is None else change(cur["abandonment"], prev["abandonment"]),
                       None if prev is None else change(cur["in_time"], prev["in_time"])))
        prev = cur
    return t


TABLE_NAMES: tuple[str, ...] = ("overview", "intents", "abandonment", "redirects", "relabels", "asked_again",
                                "response", "weekly")


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_text(report: Report, *, clinic: str = "", team: str = "") -> str:
    """The report as plain text (``micare-bot report``)."""
    head = f"Intake quality {report.period.start} to {report.period.end}"
    if clinic:
        head += f", clinic {clinic}"
    head += f", {team or 'all care teams'} (as of {report.now.isoformat(timespec='minutes')})"
    lines = [head, ""]
    for name in TABLE_NAMES:
        table = report[name]
        lines.append(table.title)
        lines.append("-" * len(table.title))
        if not table.rows:
            lines.append("  (none)")
        else:
            cells = [list(table.columns)] + [[format_value(v) for v in row] for row in table.rows]
            widths = [max(len(str(r[i])) for r in cells) for i in range(len(table.columns))]
            for r in cells:
                lines.append("  " + "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
        if table.note:
            lines.append(f"  ({table.note})")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def report_rows(report: Report) -> Mapping[str, list[dict[str, Any]]]:
    return {name: t.dicts() for name, t in report.tables.items()}
