"""The Jinja environment: packaged templates (wheel) or the repository's templates/ (checkout)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


def templates_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "templates", package.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("gen-iac templates are missing from the installation")


@cache
def environment_class() -> type[jinja2.Environment]:
    """A Jinja environment whose `a.b` on a plain dict is a key lookup first. Jinja tries the
    attribute first and the key after a failed getattr; the render contexts are dicts, and
    those failed lookups were a tenth of a large run."""
    import jinja2

    class Environment(jinja2.Environment):
        def getattr(self, obj: Any, attribute: str) -> Any:
            if type(obj) is dict:
                try:
                    return obj[attribute]
                except KeyError:
                    pass
            return super().getattr(obj, attribute)

    return Environment


@cache
def environment(target: str) -> jinja2.Environment:
    import jinja2

    return environment_class()(
        loader=jinja2.FileSystemLoader(str(templates_dir() / target)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the target-language encoders escape every value
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
