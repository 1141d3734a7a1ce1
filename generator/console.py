"""What a generate prints: a summary that fits a screen whatever the workspace size.

Default: totals; findings grouped by code (count, a few services); services not migrated,
one line each (the first few); the files written, unchanged, removed, kept; where the report
is; every line fits a terminal (long names cut with an ellipsis). `verbose`: every finding,
`quiet`: errors only, each whole on one line. Paths are relative to the directory the command
ran in.

Logs are data: every line the CLI prints goes through `safe`, so snapshot text (a service
name, a finding, a `--check` diff line) never forms a CI logging command.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from generator.diagnostics import Diagnostic, Level

if TYPE_CHECKING:
    from generator.pipeline import GenerateResult

WIDTH = 100
CODES_SHOWN = 12
NAMES_SHOWN = 3
NOT_MIGRATED_SHOWN = 10
# Azure DevOps reads `##vso[...]` anywhere in a line (any case), and `##[...]` formatting;
# GitHub's runner reads `::name::` at the start of a line once leading spaces are trimmed
# (and the old `##[` form anywhere).
_PIPELINES_COMMAND = re.compile(r"##(?=(?:vso)?\[)", re.IGNORECASE)
_WORKFLOW_COMMAND = re.compile(r"^(\s*):(?=:)")


def safe(text: str) -> str:
    """`text` as the console prints it: one line of printable text (control characters and
    invalid text escaped) that no CI runner reads as a command: a backslash breaks `##[`,
    `##vso[` and a leading `::` visibly (`#\\#vso[`, `\\::warning::`)."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    text = _PIPELINES_COMMAND.sub(r"#\\#", text)
    return _WORKFLOW_COMMAND.sub(r"\1\\:", text)


def fit(line: str, width: int = WIDTH) -> str:
    """One terminal line: control characters replaced, cut with an ellipsis."""
    line = "".join(c if c.isprintable() else " " for c in line)
    return line if len(line) <= width else line[: width - 1] + "…"


def short(name: str, width: int = 24) -> str:
    name = fit(name)
    return name if len(name) <= width else name[: width - 1] + "…"


def relative(path: str | Path, cwd: Path | None = None) -> str:
    """`path` as seen from where the command ran (never an absolute snapshot path)."""
    text = str(path)
    if not text:
        return text
    if not os.path.isabs(text):
        return os.path.normpath(text)
    try:
        return os.path.relpath(text, cwd or Path.cwd())
    except ValueError:  # another drive
        return text


def finding_line(d: Diagnostic, cwd: Path | None = None) -> str:
    """One finding, whole, on one line (file, service, field, message): -v and -q."""
    parts = [relative(d.file, cwd)] if d.file else []
    if d.service:
        parts.append(f"service {d.service!r}")
    if d.field:
        parts.append(f"field {d.field!r}")
    where = ": ".join(parts)
    line = f"{d.level.value}: {where}: {d.message}" if where else f"{d.level.value}: {d.message}"
    return fit(line, width=len(line))


def lines(
    result: GenerateResult, *, verbose: bool = False, quiet: bool = False, cwd: Path | None = None
) -> list[str]:
    plan = result.plan
    every = list(plan.diagnostics) + [d for o in plan.outcomes for d in o.diagnostics]
    if quiet:
        return [finding_line(d, cwd) for d in every if d.level is Level.ERROR]
    if verbose:
        out = [finding_line(d, cwd) for d in every]
    else:  # the workspace's own findings are few and name what to fix: each whole
        out = _grouped([d for d in every if d.service])
        out += [finding_line(d, cwd) for d in every if not d.service and d.level is not Level.INFO]
    out.extend(_not_migrated(result))
    counts = {
        s: sum(o.status == s for o in plan.outcomes)
        for s in ("migrated", "not-migrated", "skipped")
    }
    warnings = sum(d.level is Level.WARNING for d in every)
    out.append(
        fit(
            f"gen-iac: {len(plan.outcomes)} service(s): {counts['migrated']} migrated, "
            f"{counts['not-migrated']} not migrated, {counts['skipped']} skipped; "
            f"{warnings} warning(s)"
        )
    )
    # Day 2: what this run kept or retired of what earlier runs generated, one line each.
    out.extend(fit(line) for line in plan.day2.lines())
    out.append(fit(f"files in {relative(result.out, cwd)}/: {_files(result)}"))
    report = relative(result.out / "MIGRATION.md", cwd)
    summary = relative(result.out / "SUMMARY.md", cwd)
    out.append(fit(f"report: {report}"))
    out.append(fit(f"summary for a pull request: {summary}"))
    out.extend(_kept(result))
    if not verbose and every:
        out.append("run with -v to list every finding, -q for errors only")
    return out


def _grouped(every: list[Diagnostic]) -> list[str]:
    """Findings by (level, code): count and a few services; errors first."""
    groups: dict[tuple[Level, str], dict[str, None]] = {}
    totals: dict[tuple[Level, str], int] = {}
    for d in every:
        if d.level is Level.INFO:
            continue
        key = (d.level, d.code)
        groups.setdefault(key, {})[d.service or "(workspace)"] = None
        totals[key] = totals.get(key, 0) + 1
    rank = {Level.ERROR: 0, Level.WARNING: 1}
    ordered = sorted(groups, key=lambda k: (rank[k[0]], -len(groups[k]), k[1]))
    out: list[str] = []
    if ordered:
        out.append("findings by code (services, e.g.):")
    for level, code in ordered[:CODES_SHOWN]:
        services = list(groups[(level, code)])
        head = f"  {level.value:<7} {short(code, 26):<26} {len(services):>5}  "
        out.append(head + _names(services, WIDTH - len(head)))
    if len(ordered) > CODES_SHOWN:
        out.append(fit(f"  ... {len(ordered) - CODES_SHOWN} more code(s) in the report"))
    return out


def _names(services: list[str], width: int) -> str:
    """Up to NAMES_SHOWN names, each cut short, then "+N" for the rest, within `width`."""
    shown: list[str] = []
    for name in services[:NAMES_SHOWN]:
        candidate = [*shown, short(name, 22)]
        rest = len(services) - len(candidate)
        line = ", ".join(candidate) + (f" +{rest}" if rest else "")
        if len(line) > width and shown:
            break
        shown = candidate
    rest = len(services) - len(shown)
    return fit(", ".join(shown) + (f" +{rest}" if rest else ""), width)


def _not_migrated(result: GenerateResult) -> list[str]:
    missed = result.plan.not_migrated
    if not missed:
        return []
    out = [f"not migrated ({len(missed)}):"]
    for o in missed[:NOT_MIGRATED_SHOWN]:
        error = next((d for d in o.diagnostics if d.level is Level.ERROR), None)
        why = f"{error.code}: {error.message}" if error else o.reason
        out.append(fit(f"  {short(o.service, 32)}: {why}"))
    if len(missed) > NOT_MIGRATED_SHOWN:
        out.append(f"  ... {len(missed) - NOT_MIGRATED_SHOWN} more in the report")
    return out


def _files(result: GenerateResult) -> str:
    """The output layer's file lists that are not empty, counted (warnings and merges are
    shown on lines of their own)."""
    w = result.written
    counts = (
        (w.written, "written"),
        (w.unchanged, "unchanged"),
        (w.removed, "removed"),
        (w.edited, "edited by a person, kept"),
        (w.kept, "yours, kept"),
        (w.kept_edited, "no longer generated, kept"),
    )
    return ", ".join(f"{len(paths)} {what}" for paths, what in counts if paths) or "none"


def _kept(result: GenerateResult) -> list[str]:
    """What the output layer kept of a person's work, and its warnings: a few names each."""
    w = result.written
    kinds = (
        (w.edited, "file(s) gen-iac owns that a person edited (--force discards the edits)"),
        (w.kept, "of your file(s) whose content in the snapshot changed (yours stay)"),
        (w.kept_edited, "file(s) gen-iac no longer writes, left in place (edited, or yours)"),
    )
    out: list[str] = []
    for paths, what in kinds:
        if paths:
            out.append(fit(f"kept {len(paths)} {what}:"))
            out.extend(fit(f"  {path}") for path in paths[:NAMES_SHOWN])
            if len(paths) > NAMES_SHOWN:
                out.append(f"  ... and {len(paths) - NAMES_SHOWN} more")
    out.extend(fit(f"merged: {line}") for line in w.merges[:NAMES_SHOWN])
    if len(w.merges) > NAMES_SHOWN:
        out.append(f"... {len(w.merges) - NAMES_SHOWN} more change(s) merged into your files")
    out.extend(fit(f"warning: {line}") for line in w.warnings[:NAMES_SHOWN])
    if len(w.warnings) > NAMES_SHOWN:
        out.append(f"... {len(w.warnings) - NAMES_SHOWN} more warning(s); -v lists them")
    return out
