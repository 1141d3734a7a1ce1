"""The library entry: snapshot -> plan -> rendered files -> output tree."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from generator.assets.archive import snapshot_budget
from generator.diagnostics import InputError
from generator.files import RenderedFile
from generator.output import CheckResult, WriteResult, check_tree, claim, write_tree
from generator.places import example_snapshot
from generator.sources.overrides import Override, merge_flags, parse_field, read_overrides
from generator.sources.untrusted import shown
from generator.sources.verified import read_verified

if TYPE_CHECKING:  # imported where planning starts: a recorded --check never plans
    from generator.plan.model import MigrationPlan, ServiceOutcome

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
    pipelines: tuple[str, ...] = ()  # github | azure-devops: definitions under out/pipelines/
    pipeline_branch: str = "main"  # the branch whose pushes deploy (pull requests target it)
    # Terraform: one root module per workspace, or per endpoint; "" as the last run into
    # `out` (a re-run without --layout never moves the state), else workspace.
    layout: str = ""
    check: bool = False  # compare with `out` and write nothing (`--check`)
    # Day 2: what earlier runs generated and the snapshot no longer has is kept until retired
    # here (NAME or ENDPOINT/DEPLOYMENT, lower case -> keep | delete); targets and pipelines
    # an earlier run wrote are kept unless dropped.
    retire: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerateResult:
    # The plan, or how to make it: an up-to-date --check answered from its record
    # (generator.incremental) plans only when asked.
    source: MigrationPlan | Callable[[], MigrationPlan]
    written: WriteResult  # empty for --check
    out: Path
    check: CheckResult | None = None  # set for --check

    @cached_property
    def plan(self) -> MigrationPlan:
        return self.source() if callable(self.source) else self.source

    @property
    def not_migrated(self) -> tuple[ServiceOutcome, ...]:
        return self.plan.not_migrated


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
    from generator.plan.adoption import adopt
    from generator.plan.build import build_plan
    from generator.sources.snapshot import read_snapshot

    path = path or options.input or example_snapshot()
    overrides = merge_flags(read_overrides(options.overrides_file), options.service_overrides)
    flags = {k: v for k, v in options.workspace_flags.items() if v}
    snapshot = read_snapshot(path, flags)
    keys = {name: (k.primary, k.secondary) for name, k in snapshot.keys.items()}
    with snapshot_budget():  # limits across all the snapshot's archives together
        plan = build_plan(snapshot, overrides, options.defaults)
    plan = replace(plan, adoption=adopt(plan.workspace, snapshot.existing_endpoints))
    return plan, keys


def remembered(options: Options, plan: MigrationPlan) -> tuple[Options, MigrationPlan]:
    """The run's plan, targets, pipelines and layout given what the last run into --out
    generated (generator.plan.memory): nothing it wrote disappears unless a person says so."""
    from generator.plan.memory import remember
    from generator.recall import read_memory

    memory = read_memory(options.out, plan.workspace.name, options.layout)
    layout = options.layout or memory.layout or "workspace"
    plan, targets, pipelines = remember(
        plan, memory, options.retire, options.targets, options.pipelines, options.drop, layout
    )
    return replace(options, targets=targets, pipelines=pipelines, layout=layout), plan


def _planned(
    options: Options, path: Path
) -> tuple[Options, MigrationPlan, dict[str, tuple[str, str]]]:
    plan, keys = plan_from(options, path)
    options, plan = remembered(options, plan)
    return options, plan, keys


def _kept(plan: MigrationPlan) -> tuple[str, ...]:
    """The bundle folders of what a run keeps from its record: on disk already, kept as
    they are (`write_tree`/`check_tree` keep=)."""
    ws = plan.workspace
    return tuple(f"bundles/{ws.folder}/{a.folder}/" for a in ws.assets if a.kept)


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

        keys_files: list[str] = []
        for f in render_terraform(plan, keys if options.write_keys else None, options.layout):
            if f.path.endswith(f"/{KEYS_FILE}"):
                keys_files.append(f.path)
            yield f
        if keys_files:
            keys_file = (
                keys_files[0]
                if len(keys_files) == 1
                else f"terraform/{plan.workspace.folder}/<endpoint>/{KEYS_FILE}"
            )
        from generator.render.imports import render_imports

        yield from render_imports(plan, options.layout)
    if "bicep" in options.targets:
        from generator.render.bicep import render_bicep

        yield from render_bicep(plan)
    # CUTOVER.md shows what the last `gen-iac verify` into this folder found.
    verified = read_verified(options.out)
    yield from render_report(plan, options.targets, input_name, keys_file, verified)
    from generator.render.record import render_record

    retired = plan.day2.earlier_retired + plan.day2.retired
    if "terraform" in options.targets:
        from generator.render.terraform import stamped_retirements

        retired = stamped_retirements(plan, options.layout)
    yield from render_record(plan, options.targets, options.pipelines, options.layout, retired)
    if options.pipelines:
        from generator.render.pipelines import recorded_install, render_pipelines

        yield from render_pipelines(
            plan,
            options.pipelines,
            options.targets,
            layout=options.layout,
            flags=command_flags(options),
            snapshot=options.input,
            out=options.out,
            example=options.input is None,
            branch=options.pipeline_branch,
            install=recorded_install(),
        )


def command_flags(options: Options) -> list[tuple[str, str]]:
    """The choice and workspace flags of this generate, as (flag, value) pairs, so that a
    pipeline can repeat the same generate (`gen-iac --check`)."""
    found: list[tuple[str, str]] = []
    for flag, value in (
        ("--subscription", options.workspace_flags.get("subscriptionId")),
        ("--resource-group", options.workspace_flags.get("resourceGroup")),
        ("--workspace", options.workspace_flags.get("name")),
        ("--location", options.workspace_flags.get("location")),
    ):
        if value:
            found.append((flag, value))
    for flag, (name, _kind, _bare) in CHOICE_FLAGS.items():
        value = getattr(options.defaults, name)
        if value is not None:
            found.append((flag, str(value)))
        for service, override in sorted(options.service_overrides.items()):
            value = getattr(override, name)
            if value is not None:
                found.append((flag, f"{service}={value}"))
    if options.overrides_file is not None:
        if options.overrides_file.is_absolute():
            raise InputError(
                "--pipeline: give --overrides as a path relative to the repository root, so "
                "that the pipeline can repeat this generate"
            )
        found.append(("--overrides", options.overrides_file.as_posix()))
    return found


def _input_name(options: Options, path: Path) -> str:
    return shown(str(path) if options.input and not path.is_absolute() else path.name)


def _check(options: Options, path: Path) -> GenerateResult:
    """--check (the caller holds the claim on `--out`); one that finds `--out` up to date is
    recorded outside it, and the next with the same input and the same `--out` is answered
    from the record."""
    from generator import incremental

    inputs = [path] + ([options.overrides_file] if options.overrides_file else [])
    settings = repr(options)
    memo = incremental.check_memo(inputs, settings, options.out)
    started, before = 0, None
    if memo is not None:
        recalled = incremental.recall(memo, options.out)
        if recalled is not None:
            return GenerateResult(
                lambda: _planned(options, path)[1], WriteResult(), options.out, recalled
            )
        started, before = incremental.now_ns(), incremental.listing_before(options.out)
    run, plan, keys = _planned(options, path)
    files = render(plan, run, keys, _input_name(options, path))
    result = check_tree(options.out, files, locked=True, keep=_kept(plan))
    # What the run keeps or retires of earlier runs' output, first (recorded with the rest).
    result.warnings[:0] = plan.day2.lines()
    if memo is not None:
        incremental.remember(memo, options.out, before, started, result, inputs, settings)
    return GenerateResult(plan, WriteResult(), options.out, result)


def generate(options: Options, *, claimed: bool = False) -> GenerateResult:
    """Snapshot -> plan -> files -> `options.out`. `claimed`: the caller already holds
    `claim(options.out, ...)` (the CLI takes it before importing the planner)."""
    if not options.targets:
        raise InputError("no target given: use --target terraform or --target bicep")
    path = options.input or example_snapshot()
    if claimed:
        return _generate(options, path)
    # First thing: an unsafe --out is refused and the lock taken, before any planning.
    with claim(options.out, write=not options.check, snapshot=path):
        return _generate(options, path)


def _generate(options: Options, path: Path) -> GenerateResult:
    # A run builds a large plan that lives to the end, then many short-lived strings: the
    # cyclic collector only rescanned them (a third of a 10,000-service run, for no memory
    # back), so it is paused for the run.
    paused = gc.isenabled()
    gc.disable()
    try:
        if options.check:
            return _check(options, path)
        run, plan, keys = _planned(options, path)
        files = render(plan, run, keys, _input_name(options, path))
        written = write_tree(options.out, files, options.force, locked=True, keep=_kept(plan))
        return GenerateResult(plan, written, options.out)
    finally:
        if paused:
            gc.enable()
