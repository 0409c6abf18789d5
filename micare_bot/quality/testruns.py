"""Labeled test runs: an admin's JSONL file (SPEC §5) run through ``evaluate`` or ``replay``.

The run uses the same functions as ``micare-bot evaluate`` / ``replay``
(``micare_bot/evaluate.py``) in this process, on a worker thread because they
are CPU-bound and the lexicon may have to load first. It is stored with the
lexicon version it ran on (a hash of the data files, the clinic's additions
included), a summary in clear (counts and rates only) and the per-line results
sealed (labeled lines may have been taken from real messages). Each run is
compared with the previous run of the same kind on the same file name, newly
failing lines first.

Lexicons: ``live`` is what the chat uses (the package data); ``candidate`` adds
the clinic's own lexicon directories named by ``lexicon_dirs`` in the clinic
settings file — additions a clinic checks here before they go live.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..clinic_settings import ClinicSettings
from ..conversation import load_engine
from ..evaluate import InputError, evaluate, read_jsonl, replay_script, replay_summary
from ..intents import LexiconError, load_understanding
from ..store import audit, db
from ..store.crypto import Keyring
from ..store.schema import LabeledRun, aad

KINDS: tuple[str, ...] = ("evaluate", "replay")
LEXICONS: tuple[str, ...] = ("live", "candidate")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_LINES = 5000
MAX_TEXT = 2000  # characters of one line's text or opening
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class RunError(Exception):
    """A bad upload or setting; the message names the line, never quotes it."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def safe_file_name(name: str | None) -> str:
    base = Path(name or "upload.jsonl").name
    cleaned = _SAFE_NAME.sub("_", base).strip("._")[:120]
    return cleaned or "upload.jsonl"


def lexicon_dirs(clinic: ClinicSettings, clinic_file: Path, lexicon: str) -> tuple[Path, ...]:
    """The extra lexicon directories for ``lexicon`` (``live`` has none)."""
    if lexicon not in LEXICONS:
        raise RunError(422, "invalid_lexicon", "Choose the live lexicon or the clinic's candidate additions.")
    if lexicon == "live":
        return ()
    raw = clinic.raw.get("lexicon_dirs") or []
    if not isinstance(raw, list) or not raw:
        raise RunError(422, "no_candidate_lexicon",
                       "This clinic has no lexicon additions configured (lexicon_dirs in the clinic file).")
    dirs = tuple((clinic_file.parent / str(d)).resolve() for d in raw)
    missing = [d for d in dirs if not d.is_dir()]
    if missing:
        raise RunError(422, "lexicon_dir_missing", f"A configured lexicon directory is missing: {missing[0].name}.")
    return dirs


def parse_upload(data: bytes, kind: str) -> list[dict[str, Any]]:
    """The records of an uploaded JSONL file, checked like the CLI checks them."""
    if kind not in KINDS:
        raise RunError(422, "invalid_kind", "Choose evaluate (utterances) or replay (conversation scripts).")
    if len(data) > MAX_UPLOAD_BYTES:
        raise RunError(413, "file_too_large", f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RunError(422, "not_utf8", "The file must be UTF-8 text (JSON Lines).") from None
    required = ("text", "intent", "triage") if kind == "evaluate" else ("opening",)
    try:
        records = list(read_jsonl(io.StringIO(text), required))
    except InputError as exc:
        raise RunError(422, "invalid_line", str(exc)) from None
    if not records:
        raise RunError(422, "empty_file", "The file has no lines.")
    if len(records) > MAX_LINES:
        raise RunError(413, "too_many_lines", f"The file has more than {MAX_LINES} lines.")
    seen: dict[str, int] = {}
    for number, record in enumerate(records, 1):
        body = record.get("text") if kind == "evaluate" else record.get("opening")
        if not isinstance(body, str) or not body.strip() or len(body) > MAX_TEXT:
            raise RunError(422, "invalid_line", f"record {number}: the text must be 1-{MAX_TEXT} characters")
        key = str(record["id"]) if record.get("id") not in (None, "") else f"line {number}"
        seen[key] = seen.get(key, 0) + 1
        record["_key"] = key if seen[key] == 1 else f"{key}#{seen[key]}"
    return records


# --- running (CPU-bound: on a worker thread) ---------------------------------------------------


def run_evaluate(records: Sequence[dict[str, Any]], dirs: tuple[Path, ...]
                 ) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    u = load_understanding(dirs)
    keyed = [{**r, "id": r["_key"]} for r in records]
    try:
        report = evaluate(u, keyed)
    except InputError as exc:
        raise RunError(422, "invalid_line", str(exc)) from None
    summary = report.to_dict()
    summary.pop("misclassified")
    wrong = {w["id"]: w for w in report.misclassified}
    order = {w["id"]: i for i, w in enumerate(report.misclassified)}  # most serious first
    lines = []
    for r in keyed:
        w = wrong.get(r["id"])
        lines.append({
            "key": r["id"], "text": r["text"], "passed": w is None,
            "problems": list(w["problems"]) if w else [],
            "expected": f"{r['intent']} / {r['triage']}",
            "got": f"{w['predicted_intent']} / {w['predicted_triage']}" if w else f"{r['intent']} / {r['triage']}",
            "rule": w["rule"] if w else None, "rank": order.get(r["id"], len(order)),
        })
    return u.version, summary, lines


def run_replay(records: Sequence[dict[str, Any]], dirs: tuple[Path, ...], clinic: ClinicSettings, now: datetime
               ) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    engine = load_engine(dirs)
    local_now = now.astimezone(clinic.calendar.timezone).replace(tzinfo=None)
    results = []
    lines = []
    for r in records:
        try:
            result = replay_script(engine, {**r, "id": r["_key"]}, clinic=clinic.context, now=local_now)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise RunError(422, "invalid_line", f"script {r['_key']}: patient, answers or expect malformed") from None
        results.append(result)
        expect = r.get("expect") or {}
        lines.append({
            "key": r["_key"], "text": r["opening"], "passed": bool(result["passed"]),
            "problems": [] if result["passed"] else ["not as expected"],
            "expected": _describe(expect.get("outcome"), expect.get("intent"), expect.get("triage"),
                                  expect.get("fields")),
            "got": _describe(result["outcome"], result["intent"], result["triage"], result["fields"]),
            "turns": result["turns"],
            "transcript": None if result["passed"] else result["transcript"],
            "rank": 0,
        })
    summary = replay_summary(results)["summary"]
    summary.pop("failed_ids", None)
    summary["lexicon_version"] = engine.u.version
    return engine.u.version, summary, lines


def _describe(outcome: Any, intent: Any, triage: Any, fields: Any) -> str:
    parts = [str(x) for x in (outcome, intent, triage) if x]
    if fields:
        parts.append(", ".join(f"{k}={v}" for k, v in dict(fields).items()))
    return " / ".join(parts) or "-"


@dataclass(frozen=True)
class RunSummary:
    id: str
    kind: str
    file_name: str
    lexicon: str
    lexicon_version: str
    status: str
    lines: int
    failed: int
    summary: dict[str, Any]
    created_at: datetime
    error: str | None

    @property
    def passed(self) -> int:
        return self.lines - self.failed


async def execute(engine: AsyncEngine, keyring: Keyring, clinic: ClinicSettings, *, clinic_id: str, kind: str,
                  file_name: str | None, data: bytes, lexicon: str, dirs: tuple[Path, ...], actor_id: str | None,
                  now: datetime) -> str:
    """Parse, run (on a worker thread), store and audit one labeled run; returns its id."""
    records = parse_upload(data, kind)
    loop = asyncio.get_running_loop()
    try:
        if kind == "evaluate":
            version, summary, lines = await loop.run_in_executor(None, run_evaluate, records, dirs)
        else:
            version, summary, lines = await loop.run_in_executor(None, run_replay, records, dirs, clinic, now)
    except LexiconError:
        raise RunError(422, "lexicon_error", "The clinic's lexicon additions do not load; check them with "
                                             "`micare-bot check-data --lexicon-dir DIR`.") from None
    run_id = str(uuid.uuid4())
    failed = sum(1 for line in lines if not line["passed"])
    name = safe_file_name(file_name)
    async with db.write(engine) as conn:
        # runs of a clinic are strictly ordered in time (a frozen or coarse clock must not tie two)
        last = (await conn.execute(select(func.max(LabeledRun.created_at))
                                   .where(LabeledRun.clinic_id == clinic_id))).scalar()
        if last is not None:
            last = last if last.tzinfo is not None else last.replace(tzinfo=timezone.utc)
        at = now if last is None or now > last else last + timedelta(milliseconds=1)
        await conn.execute(insert(LabeledRun).values(
            id=run_id, clinic_id=clinic_id, kind=kind, file_name=name, lexicon=lexicon, lexicon_version=version,
            status="done", lines=len(lines), failed=failed, summary_json=json.dumps(summary, sort_keys=True),
            results_enc=keyring.encrypt_json({"lines": lines}, aad(LabeledRun, "results_enc", run_id)),
            error=None, created_by=actor_id, created_at=at, finished_at=at))
        await audit.append(conn, at=now, actor=f"account:{actor_id}" if actor_id else "cli", action="quality.test_run",
                           target_type="test_run", target_id=run_id,
                           detail={"kind": kind, "lines": len(lines), "failed": failed, "lexicon": lexicon,
                                   "lexicon_version": version})
    return run_id


def _summary(row: Any) -> RunSummary:
    return RunSummary(row.id, row.kind, row.file_name, row.lexicon, row.lexicon_version, row.status, row.lines,
                      row.failed, json.loads(row.summary_json), row.created_at, row.error)


async def list_runs(engine: AsyncEngine, clinic_id: str, limit: int = 50) -> list[RunSummary]:
    async with db.read(engine) as conn:
        rows = (await conn.execute(select(LabeledRun).where(LabeledRun.clinic_id == clinic_id)
                                   .order_by(LabeledRun.created_at.desc(), LabeledRun.id).limit(limit))).all()
    return [_summary(r) for r in rows]


async def load_run(engine: AsyncEngine, keyring: Keyring, clinic_id: str, run_id: str, *, actor: str,
                   now: datetime) -> tuple[RunSummary, list[dict[str, Any]], RunSummary | None,
                                           list[dict[str, Any]] | None]:
    """A run with its lines and the previous comparable run's; reading the lines is audited."""
    async with db.write(engine) as conn:
        row = (await conn.execute(select(LabeledRun).where(LabeledRun.id == run_id,
                                                           LabeledRun.clinic_id == clinic_id))).first()
        if row is None:
            raise RunError(404, "not_found", "No such test run in this clinic.")
        earlier = (select(LabeledRun).where(LabeledRun.clinic_id == clinic_id, LabeledRun.kind == row.kind,
                                            LabeledRun.status == "done", LabeledRun.created_at < row.created_at)
                   .order_by(LabeledRun.created_at.desc()))
        prev = (await conn.execute(earlier.where(LabeledRun.file_name == row.file_name).limit(1))).first()
        if prev is None:
            prev = (await conn.execute(earlier.limit(1))).first()
        await audit.append(conn, at=now, actor=actor, action="phi.read", target_type="test_run", target_id=run_id,
                           detail={"view": "quality.test_run"})
    lines = _lines(keyring, row)
    prev_lines = _lines(keyring, prev) if prev is not None else None
    return _summary(row), lines, (_summary(prev) if prev is not None else None), prev_lines


def _lines(keyring: Keyring, row: Any) -> list[dict[str, Any]]:
    if row.results_enc is None:
        return []
    return list(keyring.decrypt_json(row.results_enc, aad(LabeledRun, "results_enc", row.id))["lines"])


def diff(lines: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]] | None) -> dict[str, list[dict[str, Any]]]:
    """Lines by how they changed since the previous run: newly failing first.

    ``newly_failing``: failing now, passed before; ``new_failing``: failing, not in the previous run;
    ``still_failing``; ``newly_passing``: passing now, failed before; ``removed``: only in the previous run.
    """
    before = {line["key"]: line for line in previous or ()}
    now_keys = {line["key"] for line in lines}
    out: dict[str, list[dict[str, Any]]] = {"newly_failing": [], "new_failing": [], "still_failing": [],
                                            "newly_passing": [], "removed": []}
    for line in sorted(lines, key=lambda ln: ln.get("rank", 0)):
        old = before.get(line["key"])
        if not line["passed"]:
            if previous is None or old is None:
                out["new_failing" if previous is not None else "still_failing"].append(line)
            elif old["passed"]:
                out["newly_failing"].append(line)
            else:
                out["still_failing"].append(line)
        elif old is not None and not old["passed"]:
            out["newly_passing"].append(line)
    out["removed"] = [line for key, line in before.items() if key not in now_keys]
    return out
