"""Bot prompts rendered from jinja2 templates a clinic can edit (templates/prompts/)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "templates" / "prompts"


def prompts_dir() -> Path:
    return Path(os.environ.get("MICARE_PROMPTS_DIR") or DEFAULT_DIR)


@lru_cache(maxsize=4)
def environment(directory: Path) -> jinja2.Environment:
    # Prompts are plain text (the widget inserts them as text, never as HTML),
    # so autoescaping would only mangle apostrophes; StrictUndefined makes a
    # typo in a clinic's template fail in the data check, not mid-conversation.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Prompts:
    """Renders `name.txt` with the given variables."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or prompts_dir()
        self._env = environment(self.directory)

    def exists(self, name: str) -> bool:
        return (self.directory / f"{name}.txt").exists()

    def render(self, name: str, **context: Any) -> str:
        return self._env.get_template(f"{name}.txt").render(**context).strip()
