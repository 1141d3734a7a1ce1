"""The library entry: snapshot -> plan -> rendered files -> output tree."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from generator.diagnostics import InputError, Level
from generator.files import RenderedFile
from generator.output import CheckResult, WriteResult, check_tree, write_tree
from generator.plan.build import build_plan
from generator.plan.model import MigrationPlan, ServiceOutcome
from generator.sources.overrides import Override, merge_flags, parse_field, read_overrides
from generator.sources.snapshot import read_snapshot
from generator.sources.untrusted import shown

# Choice flags: flag -> (Override field, value type, whether a bare VALUE applies to all).
CHOICE_FLAGS: dict[str, tuple[str, type, bool]] = {
    "--sku": ("instance_type", str, False),
    "--instance-count": ("instance_count", int, False),
    "--endpoint-kind": ("endpoint_kind", str, True),
    "--compute": ("compute", str, True),
    "--deployment-name": ("deployment_name", str, True),
    "--initial-traffic": ("initial_traffic", int, True),
    "--mirror": ("mirror", int, True),
}


@dataclass(frozen=True)
class Options:
    input: Path | None = None  # None: the example snapshot shipped with gen-iac
    out: Path = Path("out")
    targets: tuple[str, ...] = ("terraform",)
    workspace_flags: dict[str, str | None] = field(default_factory=dict)
    defaults: Override = field(default_factory=Override)  # flags given without SERVICE=
    service_overrides: dict[str, Override] = field(default_factory=dict)  # SERVICE=VALUE flags
    overrides_file: Path | None = None
    write_keys: bool = False
    force: bool = False
    check: bool = False  # compare with `out` and write nothing (`--check`)


@dataclass(frozen=True)
class GenerateResult:
    plan: MigrationPlan
    written: WriteResult  # empty for --check
    out: Path
    check: CheckResult | None = None  # set for --check

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
            lines.extend(
                f"gen-iac: kept {p}: a person edited it; gen-iac's update is not applied "
                "(--force discards the edit)"
                for p in self.written.edited
            )
            lines.extend(
                f"gen-iac: kept {p}: yours; gen-iac's own content for it changed"
                for p in self.written.kept
            )
        lines.extend(f"warning: {w}" for w in self.written.warnings)
        return lines


def example_snapshot() -> Path:
    package = Path(__file__).resolve().parent
    for candidate in (package / "examples" / "snapshot", package.parent / "examples" / "snapshot"):
        if candidate.is_dir():
            return candidate
    raise InputError("the example snapshot is missing from this installation; pass --input")


def parse_choices(flags: dict[str, list[str]]) -> tuple[Override, dict[str, Override]]:
    """Choice flags (`CHOICE_FLAGS`), each `VALUE` (every service it applies to) or
    `SERVICE=VALUE`, into defaults and per-service overrides; a bad one is a usage error."""
    defaults: dict[str, object] = {}
    per_service: dict[str, dict[str, object]] = {}
    for flag, values in flags.items():
        name, kind, bare_ok = CHOICE_FLAGS[flag]
        for item in values:
            service, sep, raw = item.rpartition("=")
            expected = "SERVICE=VALUE or VALUE" if bare_ok else "SERVICE=VALUE"
            if (sep and not service) or not raw or (not sep and not bare_ok):
                raise InputError(f"{flag} {item!r}: expected {expected}")
            try:
                value = parse_field(name, kind(raw))
            except ValueError as exc:
                raise InputError(f"{flag} {item!r}: {exc}") from None
            (per_service.setdefault(service, {}) if sep else defaults)[name] = value
    return Override(**defaults), {  # type: ignore[arg-type]
        s: Override(**v)  # type: ignore[arg-type]
        for s, v in per_service.items()
    }


def plan_from(
    options: Options, path: Path | None = None
) -> tuple[MigrationPlan, dict[str, tuple[str, str]]]:
    path = path or options.input or example_snapshot()
    overrides = merge_flags(read_overrides(options.overrides_file), options.service_overrides)
    flags = {k: v for k, v in options.workspace_flags.items() if v}
    snapshot = read_snapshot(path, flags)
    keys = {name: (k.primary, k.secondary) for name, k in snapshot.keys.items()}
    return build_plan(snapshot, overrides, options.defaults), keys


def render(
    plan: MigrationPlan, options: Options, keys: dict[str, tuple[str, str]], input_name: str
) -> Iterator[RenderedFile]:
    """The files of a run, one renderer at a time, so the writer stages them as they come
    and no more than one renderer's files are held at once."""
    from generator.render.bundles import render_bundles
    from generator.render.report import render_report

    yield from render_bundles(plan)
    keys_file = None
    if "terraform" in options.targets:
        from generator.render.terraform import KEYS_FILE, render_terraform

        yield from render_terraform(plan, keys if options.write_keys else None)
        if options.write_keys and plan.workspace.keyed_services:
            keys_file = f"terraform/{plan.workspace.name}/{KEYS_FILE}"
    if "bicep" in options.targets:
        from generator.render.bicep import render_bicep

        yield from render_bicep(plan)
    yield from render_report(plan, options.targets, input_name, keys_file)


def generate(options: Options) -> GenerateResult:
    if not options.targets:
        raise InputError("no target given: use --target terraform or --target bicep")
    path = options.input or example_snapshot()
    plan, keys = plan_from(options, path)
    input_name = shown(str(path) if options.input and not path.is_absolute() else path.name)
    files = render(plan, options, keys, input_name)
    if options.check:
        return GenerateResult(plan, WriteResult(), options.out, check_tree(options.out, files))
    written = write_tree(options.out, files, options.force)
    return GenerateResult(plan, written, options.out)
