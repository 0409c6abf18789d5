"""The ``micare-bot`` command: clinic test tools, the terminal chat and the service commands."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence, TextIO

from . import service_cli
from .quality import cli as quality_cli
from .conversation import load_engine
from .evaluate import (
    InputError,
    classify_record,
    evaluate,
    format_report,
    read_jsonl,
    replay_script,
    replay_summary,
)
from .intents import LexiconError, load_understanding
from .models import ClinicContext, PatientContext

DEMO_PATIENTS = Path(__file__).parent / "data" / "demo_patients.json"


@contextmanager
def _open(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdin
    else:
        with open(path, encoding="utf-8") as handle:
            yield handle


def _lexicon_dirs(args: argparse.Namespace) -> tuple[Path, ...]:
    return tuple(Path(d) for d in (getattr(args, "lexicon_dir", None) or ()))


def cmd_classify(args: argparse.Namespace) -> int:
    u = load_understanding(_lexicon_dirs(args))
    with _open(args.file) as stream:
        for record in read_jsonl(stream, ("text",)):
            print(json.dumps(classify_record(u, record)), flush=False)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    u = load_understanding(_lexicon_dirs(args))
    with _open(args.file) as stream:
        report = evaluate(u, read_jsonl(stream, ("text", "intent", "triage")))
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    engine = load_engine(_lexicon_dirs(args))
    now = datetime.fromisoformat(args.now) if args.now else datetime.now()
    clinic = ClinicContext()
    results = []
    with _open(args.file) as stream:
        for script in read_jsonl(stream, ("opening",)):
            result = replay_script(engine, script, clinic=clinic, now=now)
            results.append(result)
            print(json.dumps(result))
    print(json.dumps(replay_summary(results)))
    return 0


def cmd_check_data(args: argparse.Namespace) -> int:
    engine = load_engine(_lexicon_dirs(args))
    u = engine.u
    learned = ", ".join(f"{m.target} model of {len(m.weights):,} features ({m.trained_on.get('lines', '?')} lines)"
                        for m in (u.triage_model, u.intent_model) if m is not None)
    print(f"lexicon {u.version}: {len(engine.lexicon.intent_index)} intent phrases, "
          f"{len(u.rules.rules)} red-flag rules, {len(engine.flows.flows)} flows, {learned or 'no learned models'}: OK")
    return 0


def cmd_train_models(args: argparse.Namespace) -> int:
    """Train the learned triage and intent models (intents/learned.py) from labeled files."""
    try:
        from .intents import training
        import sklearn  # noqa: F401  (the `train` extra)
    except ImportError:
        print("micare-bot: train-models needs scikit-learn: pip install -e '.[train]'", file=sys.stderr)
        return 2
    from .intents import LearnedSettings, Understanding
    from .intents.lexicon import DATA_DIR, load_lexicon
    from .intents.triage import load_triage

    lexicon = load_lexicon(_lexicon_dirs(args))
    # rules only: the models are what we make (the clinic's learned.yaml still applies in --cross-validate)
    u = Understanding(lexicon, load_triage(lexicon), settings=LearnedSettings.from_raw(lexicon.raw["learned"]))
    paths = sorted({Path(f) for f in args.files}, key=lambda p: p.name)
    if args.cross_validate:
        rows = training.cross_validate(u, paths)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(training.format_cross_validation(rows))
        return 0
    examples = training.read_examples(paths)
    models = training.train(u, examples, training.provenance(paths, examples))
    for name, data in models.items():
        path = training.write_model(name, data, Path(args.out) if args.out else DATA_DIR)
        print(f"wrote {path} ({len(data['features'])} features, {len(examples)} labeled lines)")
    return 0


def _demo_patient(name: str | None) -> PatientContext:
    patients = json.loads(DEMO_PATIENTS.read_text(encoding="utf-8"))
    if name:
        wanted = [p for p in patients if name.lower() in p["name"].lower()]
        if not wanted:
            raise SystemExit(f"no demo patient matches {name!r}; try one of: "
                             + ", ".join(p["name"] for p in patients))
        return PatientContext.from_dict(wanted[0])
    return PatientContext.from_dict(patients[1])  # a parent with two children: every path shows


def cmd_chat(args: argparse.Namespace) -> int:
    """A terminal conversation as a demo patient."""
    engine = load_engine(_lexicon_dirs(args))
    patient = _demo_patient(args.patient)
    clinic = ClinicContext(name="the demo clinic")
    deps = ", ".join(d.name for d in patient.dependents) or "none"
    print(f"micare-bot chat as demo patient {patient.name} (medications: "
          f"{', '.join(patient.medications) or 'none'}; dependents: {deps}). Ctrl-D to quit.\n")
    result = engine.greeting(patient, clinic)
    state = result.state
    _show(result.replies)
    while True:
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        result = engine.handle(state, patient, text, clinic=clinic, now=datetime.now())
        state = result.state
        _show(result.replies)
        for effect in result.effects:
            print(f"  [{type(effect).__name__}: status {state.status}, intent {state.intent}, triage {state.triage}]")
            if hasattr(effect, "fields"):
                print("  " + json.dumps(dict(effect.fields)))
        if state.closed:
            again = input("Start a new conversation? [y/N] ").strip().lower()
            if again not in ("y", "yes"):
                return 0
            result = engine.greeting(patient, clinic)
            state = result.state
            _show(result.replies)


def _show(replies: Sequence[object]) -> None:
    for reply in replies:
        print("bot> " + reply.text.replace("\n", "\n     "))  # type: ignore[attr-defined]
        if reply.quick_replies:  # type: ignore[attr-defined]
            print("     [" + "] [".join(reply.quick_replies) + "]")  # type: ignore[attr-defined]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="micare-bot", description="Patient intake gateway for clinic secure messaging")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_lexicon(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--lexicon-dir", action="append", metavar="DIR",
                       help="a clinic's extra lexicon directory (repeatable)")
        return p

    p = with_lexicon(sub.add_parser("classify", help="print intent, triage and confidence per utterance"))
    p.add_argument("file", help="utterances JSONL, or - for standard input")
    p.set_defaults(func=cmd_classify)

    p = with_lexicon(sub.add_parser("evaluate", help="score labeled utterances"))
    p.add_argument("file", help="labeled utterances JSONL, or - for standard input")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = with_lexicon(sub.add_parser("replay", help="play conversation scripts against the engine"))
    p.add_argument("file", help="conversation scripts JSONL, or - for standard input")
    p.add_argument("--now", help="ISO date-time the conversations happen at (default: now)")
    p.set_defaults(func=cmd_replay)

    p = with_lexicon(sub.add_parser("chat", help="talk to the bot in the terminal as a demo patient"))
    p.add_argument("--patient", help="part of a demo patient's name (default: Maria Santos)")
    p.set_defaults(func=cmd_chat)

    p = with_lexicon(sub.add_parser("train-models", help="train the learned triage and intent models"))
    p.add_argument("files", nargs="+", help="labeled utterances JSONL files")
    p.add_argument("--out", metavar="DIR", help="where to write the two model files (default: the package data)")
    p.add_argument("--cross-validate", action="store_true",
                   help="hold out each file in turn and print rules-only and rules+model figures")
    p.add_argument("--json", action="store_true", help="with --cross-validate: print JSON")
    p.set_defaults(func=cmd_train_models)

    p = with_lexicon(sub.add_parser("check-data", help="load every data file and template; fail on errors"))
    p.set_defaults(func=cmd_check_data)

    service_cli.register(sub)
    quality_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (InputError, LexiconError, OSError) as exc:
        print(f"micare-bot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
