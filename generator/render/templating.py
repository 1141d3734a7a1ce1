"""The Jinja environment: packaged templates (wheel) or the repository's templates/ (checkout)."""

from __future__ import annotations

import contextlib
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


# How the templates are compiled: part of the bytecode cache's folder name, since Jinja keys
# its cache by template source alone.
OPTIONS: dict[str, Any] = {
    "autoescape": False,  # the target-language encoders escape every value
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
}


@cache
def environment(target: str) -> jinja2.Environment:
    import jinja2

    return environment_class()(
        loader=jinja2.FileSystemLoader(str(templates_dir() / target)),
        undefined=jinja2.StrictUndefined,
        # Templates do not change during a run: no stat of the source on every lookup.
        auto_reload=False,
        bytecode_cache=bytecode_cache(),
        **OPTIONS,
    )


@cache
def bytecode_cache(flavour: str = "") -> jinja2.BytecodeCache | None:
    """Compiled templates in the per-user cache (compiling is a third of a small run), keyed
    by gen-iac's version, the options above and `flavour` (what else an environment sets
    that changes compiled code, e.g. a finalize function); Jinja checks each entry against
    the template's source, so an edited template is compiled again. None: no usable cache."""
    import hashlib

    import jinja2

    from generator.cache import user_cache_dir

    options = hashlib.sha256(repr((sorted(OPTIONS.items()), flavour)).encode()).hexdigest()[:16]
    folder = user_cache_dir("templates", f"{jinja2.__version__}-{options}")
    if folder is None:
        return None

    class Cache(jinja2.FileSystemBytecodeCache):
        """Never fails a run: an entry that cannot be read or written is compiled anew."""

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError, TypeError):
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    return Cache(str(folder), "%s.cache")
