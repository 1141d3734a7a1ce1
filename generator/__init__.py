"""gen-iac: Azure ML v1 web services to v2 online endpoints as Terraform or Bicep.

The public API is `generate()` (in `generator.pipeline`); it is imported lazily so that
`import generator` and `gen-iac --help` stay instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from generator.pipeline import GenerateResult, Options


def generate(options: Options) -> GenerateResult:
    """Read a snapshot, plan the migration, render and write the output tree."""
    from generator.pipeline import generate as _generate

    return _generate(options)


def __getattr__(name: str) -> Any:
    if name in {"Options", "GenerateResult"}:
        from generator import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
