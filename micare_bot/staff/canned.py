"""Canned replies: jinja2 templates a clinic edits, one directory per intent.

``templates/canned/<intent>/<name>.txt`` is offered for requests of that intent,
``templates/canned/any/<name>.txt`` for every request. The first line is
``{# title: Shown in the menu #}``. A template sees ``patient`` (the first name of
whom the request is for), ``for_self``, ``patient_possessive``, ``fields`` (the
collected SPEC §2 fields), ``reference``, ``team``, ``staff`` (the sender's name)
and ``clinic`` (its name and numbers). Every template is compiled at start-up,
so a broken edit stops the server instead of a nurse's reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "canned"
_TITLE = re.compile(r"^\{#\s*title:\s*(.+?)\s*#\}")
_NAME = re.compile(r"^[a-z_]{1,40}/[a-z0-9_]{1,60}$")


class CannedError(ValueError):
    """A canned reply is missing or does not render."""


@dataclass(frozen=True)
class Canned:
    id: str  # "<intent or any>/<name>"
    title: str


class CannedReplies:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)), autoescape=False,
            undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
        self.by_group: dict[str, list[Canned]] = {}
        for path in sorted(directory.glob("*/*.txt")):
            cid = f"{path.parent.name}/{path.stem}"
            if not _NAME.match(cid):
                raise CannedError(f"{path}: canned reply names are lower-case letters, digits and '_'")
            first = path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
            match = _TITLE.match(first)
            if not match:
                raise CannedError(f"{path}: the first line must be {{# title: ... #}}")
            try:
                self.env.get_template(cid + ".txt")
            except jinja2.TemplateSyntaxError as exc:
                raise CannedError(f"{path}:{exc.lineno}: {exc.message}") from None
            self.by_group.setdefault(path.parent.name, []).append(Canned(cid, match.group(1)))

    def for_intent(self, intent: str) -> list[Canned]:
        return [*self.by_group.get(intent, []), *self.by_group.get("any", [])]

    def allowed(self, canned_id: str, intent: str) -> bool:
        return any(c.id == canned_id for c in self.for_intent(intent))

    def render(self, canned_id: str, intent: str, context: Mapping[str, Any]) -> str:
        if not _NAME.match(canned_id) or not self.allowed(canned_id, intent):
            raise CannedError("no such canned reply for this request")
        try:
            text = self.env.get_template(canned_id + ".txt").render(**context)
        except jinja2.UndefinedError:
            raise CannedError("the canned reply uses a value this request does not have") from None
        return text.strip()
