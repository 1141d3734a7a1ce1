"""The library entry: snapshot -> plan -> rendered files -> output tree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from generator.diagnostics import InputError, Level
from generator.output import WriteResult, write_tree
from generator.plan.build import build_plan
from generator.plan.model import MigrationPlan, ServiceOutcome
from generator.render import RenderedFile
from generator.sources.overrides import merge_flags, read_overrides
from generator.sources.snapshot import read_snapshot

T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    input: Path | None = None  # None: the example snapshot shipped with gen-iac
    out: Path = Path("out")
    targets: tuple[str, ...] = ("terraform",)
    workspace_flags: dict[str, str | None] = field(default_factory=dict)
    sku_overrides: dict[str, str] = field(default_factory=dict)
    instance_count_overrides: dict[str, int] = field(default_factory=dict)
    overrides_file: Path | None = None
    write_keys: bool = False
    force: bool = False


@dataclass(frozen=True)
class GenerateResult:
    plan: MigrationPlan
    files: tuple[RenderedFile, ...]
    written: WriteResult
    out: Path

    @property
    def not_migrated(self) -> tuple[ServiceOutcome, ...]:
        return self.plan.not_migrated

    def terminal_lines(self, quiet: bool = False) -> list[str]:
        shown = {Level.ERROR} if quiet else {Level.ERROR, Level.WARNING}
        lines = [d.line() for d in self.plan.diagnostics if d.level in shown]
        for o in self.plan.outcomes:
            lines.extend(d.line() for d in o.diagnostics if d.level in shown)
        if not quiet:
            counts = {
                s: sum(o.status == s for o in self.plan.outcomes)
                for s in ("migrated", "not-migrated", "skipped")
            }
            lines.append(
                f"gen-iac: {counts['migrated']} migrated, {counts['not-migrated']} not migrated, "
                f"{counts['skipped']} skipped; {len(self.written.written)} file(s) written, "
                f"{len(self.written.unchanged)} unchanged, {len(self.written.removed)} removed "
                f"in {self.out}; see {self.out / 'MIGRATION.md'}"
            )
            lines.extend(
                f"gen-iac: kept {p}: it was edited, so it is no longer managed"
                for p in self.written.kept_edited
            )
        return lines


def example_snapshot() -> Path:
    package = Path(__file__).resolve().parent
    for candidate in (package / "examples" / "snapshot", package.parent / "examples" / "snapshot"):
        if candidate.is_dir():
            return candidate
    raise InputError("the example snapshot is missing from this installation; pass --input")


def parse_assignments(values: list[str], flag: str, kind: Callable[[str], T]) -> dict[str, T]:
    """`NAME=VALUE` flags into a dict; a malformed one is a usage error."""
    result: dict[str, T] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        try:
            if not sep or not name or not raw:
                raise ValueError
            value = kind(raw)
            if isinstance(value, int) and value < 1:
                raise ValueError
        except ValueError:
            raise InputError(f"{flag} {item!r}: expected SERVICE=VALUE") from None
        result[name] = value
    return result


def plan_from(
    options: Options, path: Path | None = None
) -> tuple[MigrationPlan, dict[str, tuple[str, str]]]:
    path = path or options.input or example_snapshot()
    overrides = merge_flags(
        read_overrides(options.overrides_file),
        options.sku_overrides,
        options.instance_count_overrides,
    )
    flags = {k: v for k, v in options.workspace_flags.items() if v}
    snapshot = read_snapshot(path, flags)
    keys = {name: (k.primary, k.secondary) for name, k in snapshot.keys.items()}
    return build_plan(snapshot, overrides), keys


def render(
    plan: MigrationPlan, options: Options, keys: dict[str, tuple[str, str]], input_name: str
) -> list[RenderedFile]:
    from generator.render.report import render_report

    files: list[RenderedFile] = []
    keys_file = None
    if "terraform" in options.targets:
        from generator.render.terraform import KEYS_FILE, render_terraform

        files += render_terraform(plan, keys if options.write_keys else None)
        if options.write_keys and plan.workspace.keyed_services:
            keys_file = f"terraform/{plan.workspace.name}/{KEYS_FILE}"
    if "bicep" in options.targets:
        from generator.render.bicep import render_bicep

        files += render_bicep(plan)
    files += render_report(plan, options.targets, input_name, keys_file)
    return files


def generate(options: Options) -> GenerateResult:
    if not options.targets:
        raise InputError("no target given: use --target terraform or --target bicep")
    path = options.input or example_snapshot()
    plan, keys = plan_from(options, path)
    input_name = str(path) if options.input and not path.is_absolute() else path.name
    files = render(plan, options, keys, input_name)
    written = write_tree(options.out, files, options.force)
    return GenerateResult(plan, tuple(files), written, options.out)
