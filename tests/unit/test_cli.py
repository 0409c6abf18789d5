"""The clinic test tools exactly as SPEC §5 describes them, and the data check."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from micare_bot.cli import main

# the shared samples sit beside the checkout (/work/shared beside /work/main); a git worktree is one level deeper
SHARED = next((p / "shared" / "examples" for p in Path(__file__).resolve().parents
               if (p / "shared" / "examples").is_dir()), Path(__file__).resolve().parents[3] / "shared" / "examples")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_prints_one_line_per_input_in_order(capsys, tmp_path):
    f = tmp_path / "u.jsonl"
    f.write_text('{"id": "a", "text": "glypizide refil plz"}\n\n{"id": "b", "text": "I have crushing chest pain"}\n')
    code, out, _ = _run(capsys, "classify", str(f))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [line["id"] for line in lines] == ["a", "b"]
    assert lines[0]["intent"] == "refill" and lines[0]["triage"] == "routine"
    assert lines[1]["triage"] == "emergency"
    assert set(lines[0]) == {"id", "intent", "triage", "confidence"}
    assert 0 <= lines[0]["confidence"] <= 1


def test_classify_reads_standard_input(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"id": "x", "text": "has my lipid panel come back?"}\n'))
    code, out, _ = _run(capsys, "classify", "-")
    assert code == 0 and json.loads(out)["intent"] == "results"


def test_evaluate_report_and_json(capsys):
    code, out, _ = _run(capsys, "evaluate", str(SHARED / "utterances.sample.jsonl"))
    assert code == 0
    assert "Intent accuracy on routine lines" in out and "Confusion matrix" in out
    assert "emergency + crisis + poison" in out and "Over-triage" in out
    code, out, _ = _run(capsys, "evaluate", "--json", str(SHARED / "utterances.sample.jsonl"))
    report = json.loads(out)
    assert report["triage"]["emergency_crisis_poison_recall"] >= 0.99
    assert "confusion" in report["intent"] and isinstance(report["misclassified"], list)


def test_replay_prints_each_script_and_a_summary(capsys):
    code, out, _ = _run(capsys, "replay", "--now", "2026-11-20T10:00", str(SHARED / "conversations.sample.jsonl"))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    scripts, summary = lines[:-1], lines[-1]["summary"]
    assert len(scripts) == 10
    assert set(scripts[0]) == {"id", "outcome", "intent", "triage", "fields", "turns", "passed", "transcript"}
    assert summary["passed"] >= 9


def test_bad_input_is_a_clear_error(capsys, tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "a", "text": "ok"}\nnot json\n')
    code, _, err = _run(capsys, "classify", str(f))
    assert code == 2 and "line 2" in err


def test_missing_label_is_a_clear_error(capsys, tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "a", "text": "ok"}\n')
    code, _, err = _run(capsys, "evaluate", str(f))
    assert code == 2 and "missing intent, triage" in err


def test_check_data_loads_everything(capsys):
    code, out, _ = _run(capsys, "check-data")
    assert code == 0 and "OK" in out


def test_clinic_lexicon_extends_ours(capsys, tmp_path):
    """A clinic's own phrase file adds to the lexicon without code changes."""
    f = tmp_path / "u.jsonl"
    f.write_text('{"id": "a", "text": "zorbulate my gizmo"}\n')
    _, before, _ = _run(capsys, "classify", str(f))
    assert json.loads(before)["intent"] == "other"
    lex = tmp_path / "lexicon"
    lex.mkdir()
    (lex / "intents.yaml").write_text("intents:\n  refill:\n    6: [\"zorbulate\"]\n")
    _, after, _ = _run(capsys, "classify", "--lexicon-dir", str(lex), str(f))
    assert json.loads(after)["intent"] == "refill"


def test_a_repeated_key_in_a_clinic_file_is_refused_not_half_read(capsys, tmp_path):
    """Two `6:` weights under one intent: plain YAML keeps the second and drops the first's
    phrases without a word; the lexicon refuses the file and names the line."""
    f = tmp_path / "u.jsonl"
    f.write_text('{"id": "a", "text": "zorbulate my gizmo"}\n')
    lex = tmp_path / "lexicon"
    lex.mkdir()
    (lex / "intents.yaml").write_text('intents:\n  refill:\n    6: ["zorbulate"]\n    6: ["frobnicate"]\n')
    code, _, err = _run(capsys, "classify", "--lexicon-dir", str(lex), str(f))
    assert code == 2 and "intents.yaml" in err and "appears twice" in err and "line 4" in err


def test_chat_runs_a_conversation(capsys, monkeypatch):
    answers = iter(["refill my escitalopram", "me", "mail order", "yes", "n"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    code, out, _ = _run(capsys, "chat")
    assert code == 0
    assert "Who is this request for?" in out
    assert "FileRequest" in out and "Escitalopram 10 mg tablet" in out


@pytest.mark.parametrize("template", sorted((Path(__file__).resolve().parents[2] / "templates" / "prompts").glob("*.txt")))
def test_every_prompt_template_renders(template):
    """A typo in a prompt template fails here, not in front of a patient."""
    from micare_bot.flows.prompts import Prompts
    from micare_bot.models import ClinicContext, Dependent, PatientContext

    patient = PatientContext("Test Patient", 30, ("Losartan 50 mg tablet",), (Dependent("Eli", 4),))
    text = Prompts().render(template.stem, patient=patient, clinic=ClinicContext(), kind="", guess_label="Appointment",
                            candidates=(), question="Q?", intent_label="Appointment", summary=[("A", "b")],
                            labels=["pharmacy"], level="crisis", child="Eli")
    assert text.strip()


def test_every_flow_field_has_a_question():
    from micare_bot.conversation import load_engine

    engine = load_engine()
    for flow in engine.flows.flows.values():
        for field in flow.fields:
            assert engine.prompts.exists(f"ask_{field.name}"), field.name


def test_train_models_names_the_bad_file_and_writes_nothing(capsys, tmp_path):
    """A labeled file with a line missing its labels is exit 2 naming the file, and no model is written."""
    f = tmp_path / "labels.jsonl"
    f.write_text('{"id": "a", "text": "refill my metformin", "intent": "refill", "triage": "routine"}\n'
                 '{"id": "b", "text": "hi"}\n')
    code, _, err = _run(capsys, "train-models", str(f), "--out", str(tmp_path))
    assert code == 2
    assert "labels.jsonl" in err and "line 2" in err
    assert not list(tmp_path.glob("*_model.json"))
