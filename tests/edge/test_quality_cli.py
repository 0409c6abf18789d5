"""`micare-bot seed-demo-week` and `micare-bot report`, run as the command runs them, on both backends."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from micare_bot import cli

from .test_cli import cli_env  # noqa: F401  (the fixture: an empty database and a key file)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_demo_week_then_report(cli_env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """After db upgrade, seed-demo and seed-demo-week, the report for the last seven days reads the script's
    figures as text, as JSON and as one CSV file per table; a second seed adds nothing."""
    assert run(capsys, "db", "upgrade")[0] == 0
    assert run(capsys, "seed-demo")[0] == 0
    code, out, _ = run(capsys, "seed-demo-week")
    assert code == 0 and "28 conversations, 12 filed" in out
    code, out, _ = run(capsys, "seed-demo-week")
    assert code == 0 and "nothing added" in out

    today = datetime.now(timezone.utc).astimezone(ZoneInfo("America/Chicago")).date()
    since = (today - timedelta(days=6)).isoformat()
    code, out, _ = run(capsys, "report", "--clinic", "demo", "--since", since)
    assert code == 0
    assert "conversations started         20" in out and "abandonment rate              0.25" in out
    assert "Where patients abandon" in out and "refill             confirm" in out

    csv_dir = tmp_path / "csv"
    code, out, _ = run(capsys, "report", "--clinic", "demo", "--since", since, "--team", "blue", "--json",
                       "--csv-dir", str(csv_dir))
    assert code == 0
    body = json.loads(out)
    overview = {r["figure"]: r["value"] for r in body["tables"]["overview"]["rows"]}
    assert (overview["conversations started"], overview["filed"], overview["redirected (urgent)"],
            overview["cancelled"], overview["abandoned"]) == (20, 9, 4, 2, 5)
    redirects = {r["level"]: r["redirects"] for r in body["tables"]["redirects"]["rows"]}
    assert redirects == {"emergency": 1, "crisis": 1, "poison": 1, "same_day": 1}
    relabels = {(r["bot_intent"], r["staff_intent"]): r["requests"] for r in body["tables"]["relabels"]["rows"]}
    assert relabels == {("symptom", "appointment"): 1, ("refill", "other"): 1}
    assert body["care_team"] == "blue" and body["period"]["since"] == since
    files = sorted(p.name for p in csv_dir.iterdir())
    assert files == sorted(f"{name}.csv" for name in body["tables"])
    with open(csv_dir / "intents.csv", newline="", encoding="utf-8") as handle:
        rows = {r["intent"]: r for r in csv.DictReader(handle)}
    assert rows["refill"]["started"] == "6" and rows["refill"]["completion_rate"] == "0.6667"


def test_report_errors_are_clear(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown clinic, an unknown team and a reversed period are one-line errors (exit 2), no traceback."""
    assert run(capsys, "db", "upgrade")[0] == 0
    assert run(capsys, "seed-demo")[0] == 0
    code, _, err = run(capsys, "report", "--clinic", "nowhere", "--since", "2026-11-01")
    assert code == 2 and "nowhere" in err and "Traceback" not in err
    code, _, err = run(capsys, "report", "--clinic", "demo", "--since", "2026-11-01", "--team", "red")
    assert code == 2 and "No such care team" in err
    code, _, err = run(capsys, "report", "--clinic", "demo", "--since", "2026-11-10", "--until", "2026-11-01")
    assert code == 2 and "before" in err
