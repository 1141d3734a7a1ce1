"""The Jinja environment: packaged templates (wheel) or the repository's templates/ (checkout)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2


def templates_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "templates", package.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("gen-iac templates are missing from the installation")


@cache
def environment(target: str) -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / target)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the target-language encoders escape every value
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
