"""Benchmark: generate N synthetic services and compare with the floor of writing the same tree.

    python scripts/benchmark.py                         # 1k, 10k, 20k services, both targets,
                                                        # median of 3 runs (several minutes)
    python scripts/benchmark.py --counts 1000 --repeats 1   # a quick look
    python scripts/benchmark.py --targets terraform --dir /var/tmp

Each run is a fresh child process of this checkout (`python -m generator`), measured from
outside: wall time, user+sys CPU time and peak RSS of that process alone (os.wait4), then the
files and bytes it wrote. In the same repeat a second child writes the very same tree (same
paths, same sizes, after reading the same snapshot JSON): the floor any generator has to pay
for that output on that file system. Output goes to tmpfs (/dev/shm) when there is one, so the
disk's noise does not decide; the first line says where. This is a measurement tool, not a
test: it asserts nothing and CI does not run it.

Day 2 (`--day2-counts`, default 10,000; `--layouts`): per layout, into one output folder, a
full generate, a re-generation after one service changed, the first `--check` after it (a
full check, which records an up-to-date answer) and a second `--check` (answered from that
record). Each child gets its own per-user cache (XDG_CACHE_HOME in the work folder), so
the first run of each layout compiles the templates. `--source DIR` measures another
checkout (e.g. an export of main, for before/after figures).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SETTLE = 0.5  # s between writing and a --check: a record trusts only settled entries

FLOOR = r"""
import json, os, sys
snapshot, listing, out = sys.argv[1:4]
with open(snapshot, encoding="utf-8") as f:
    json.load(f)
made = set()
with open(listing, encoding="utf-8") as f:
    for line in f:
        path, size = line.rstrip("\n").rsplit("\t", 1)
        target = os.path.join(out, path)
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        with open(target, "wb") as g:
            g.write(b"x" * int(size))
"""


def synthetic(count: int) -> dict[str, Any]:
    services = []
    for i in range(count):
        kind = "AKS" if i % 3 else "ACI"
        service: dict[str, Any] = {
            "name": f"svc-{i:05d}",
            "computeType": kind,
            "description": f'Service {i}: "quoted" \\ ${{x}} %{{y}} ünï\nline two',
            "kvTags": {"team": f"team-{i % 17}", "cost-center": f"CC-{i % 101}"},
            "containerResourceRequirements": {
                "cpu": [0.5, 1, 2, 3, 4][i % 5],
                "memoryInGB": [1, 2, 4, 8, 16][i % 5],
            },
            "authEnabled": i % 4 != 0,
            "appInsightsEnabled": i % 2 == 0,
            "scoringUri": f"http://10.0.{i // 250}.{i % 250}:80/api/v1/service/svc-{i:05d}/score",
            "environmentImageRequest": {
                "modelIds": [f"model-{i % 50}:{i % 7 + 1}"],
                "environment": {
                    "name": f"env-{i % 20}",
                    "version": "3",
                    "environmentVariables": {
                        "AZUREML_ENTRY_SCRIPT": "src/score.py",
                        "AZUREML_SOURCE_DIRECTORY": "src",
                    },
                },
            },
        }
        if kind == "AKS":
            service.update(
                {
                    "numReplicas": 2,
                    "autoScaler": {
                        "autoscaleEnabled": i % 2 == 0,
                        "minReplicas": 1,
                        "maxReplicas": 5,
                        "targetUtilization": 70,
                        "refreshPeriodInSeconds": 1,
                    },
                    "scoringTimeoutMs": 60000,
                    "maxConcurrentRequestsPerContainer": 1,
                    "maxQueueWaitMs": 500,
                    "livenessProbeRequirements": {
                        "periodSeconds": 10,
                        "initialDelaySeconds": 310,
                        "timeoutSeconds": 2,
                        "failureThreshold": 3,
                        "successThreshold": 1,
                    },
                }
            )
        services.append(service)
    workspace = {
        "subscriptionId": "00000000-0000-0000-0000-000000000000",
        "resourceGroup": "rg-bench",
        "name": "ws-bench",
        "location": "westeurope",
    }
    return {"workspace": workspace, "services": services}


@dataclass(frozen=True)
class Usage:
    wall: float  # seconds
    cpu: float  # user + sys seconds of the child
    peak_mib: float  # the child's peak RSS


@dataclass(frozen=True)
class Run:
    gen: Usage
    floor: Usage
    files: int
    bytes: int


def measure(
    argv: list[str], ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None
) -> Usage:
    """Wall time, CPU time and peak RSS of one fresh child process (its own rusage)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    start = time.perf_counter()
    child = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert child.stderr is not None
    errors = child.stderr.read()  # small: the generator runs with --quiet
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode not in ok:
        sys.exit(
            f"{' '.join(argv[:4])} ... exited with {child.returncode}:\n"
            + errors.decode(errors="replace")[-2000:]
        )
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Usage(wall, usage.ru_utime + usage.ru_stime, peak)


def tree(out: Path) -> list[tuple[str, int]]:
    found = []
    for folder, _, names in os.walk(out):
        for name in names:
            path = os.path.join(folder, name)
            found.append((os.path.relpath(path, out), os.path.getsize(path)))
    return sorted(found)


def one_run(work: Path, snapshot: Path, targets: list[str]) -> Run:
    out, floor_out, listing = work / "out", work / "floor", work / "listing.tsv"
    for old in (out, floor_out):
        shutil.rmtree(old, ignore_errors=True)
    flags = [a for t in targets for a in ("--target", t)]
    command = [sys.executable, "-m", "generator", *flags, "--input", str(snapshot)]
    gen = measure(
        [*command, "--out", str(out), "--quiet"],
        ok=(0, 1),  # 1: some services not migrated, the rest written
    )
    files = tree(out)
    listing.write_text("".join(f"{p}\t{s}\n" for p, s in files), encoding="utf-8")
    floor = measure([sys.executable, "-c", FLOOR, str(snapshot), str(listing), str(floor_out)])
    for old in (out, floor_out):
        shutil.rmtree(old, ignore_errors=True)
    return Run(gen, floor, len(files), sum(s for _, s in files))


DAY2 = ("full generate", "one change", "--check (first)", "--check (up to date)")


def day2(work: Path, count: int, layout: str, targets: list[str]) -> list[Usage]:
    """The day-2 runs of one layout, in order (see DAY2), into one output folder."""
    out, cache = work / f"out-{layout}", work / f"cache-{layout}"
    for old in (out, cache):
        shutil.rmtree(old, ignore_errors=True)
    snapshot = work / f"day2-{count}.json"
    doc = synthetic(count)
    snapshot.write_text(json.dumps(doc), encoding="utf-8")
    flags = [a for t in targets for a in ("--target", t)]
    command = [sys.executable, "-m", "generator", *flags, "--layout", layout]
    command += ["--input", str(snapshot), "--out", str(out), "--quiet"]
    env = {"XDG_CACHE_HOME": str(cache)}
    found = [measure(command, ok=(0, 1), env=env)]
    doc["services"][count // 2]["description"] = "changed on day 2"
    snapshot.write_text(json.dumps(doc), encoding="utf-8")
    found.append(measure(command, ok=(0, 1), env=env))
    for _ in range(2):
        time.sleep(SETTLE)
        found.append(measure([*command, "--check"], env=env))
    for folder in (out, cache):
        shutil.rmtree(folder, ignore_errors=True)
    snapshot.unlink()
    return found


def where_to_measure(given: Path | None) -> tuple[Path, str]:
    """The folder for the runs and a note saying what file system it is on."""
    base = given or (Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else None)
    base = base or Path(tempfile.gettempdir())
    return base, f"{base} ({filesystem(base)})"


def filesystem(path: Path) -> str:
    """The type of the file system holding `path`, from /proc/mounts (Linux), else unknown."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "file system unknown"
    best, kind = "", "file system unknown"
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, parts[2]
    return kind


def load() -> str:
    try:
        return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="*", default=[1000, 10000, 20000])
    parser.add_argument(
        "--targets", nargs="+", default=["terraform", "bicep"], choices=["terraform", "bicep"]
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per count; the table shows the median"
    )
    parser.add_argument("--dir", type=Path, help="where to write (default: /dev/shm if present)")
    parser.add_argument(
        "--day2-counts", type=int, nargs="*", default=[10000], help="day-2 runs (none: skip)"
    )
    parser.add_argument(
        "--layouts", nargs="+", default=["workspace", "endpoint"], choices=["workspace", "endpoint"]
    )
    parser.add_argument("--source", type=Path, help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    if args.source:
        global ROOT
        ROOT = args.source.resolve()
    base, note = where_to_measure(args.dir)
    print(
        f"measuring in {note}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; "
        f"targets: {' + '.join(args.targets)}; median of {args.repeats} run(s); "
        f"{load()} (wall time means something on an idle machine only; cpu is steadier)",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="gen-iac-bench-", dir=base) as tmp:
        work = Path(tmp)
        for count in args.counts:
            snapshot = work / f"snapshot-{count}.json"
            snapshot.write_text(json.dumps(synthetic(count)), encoding="utf-8")
            runs = []
            for i in range(args.repeats):
                run = one_run(work, snapshot, args.targets)
                runs.append(run)
                print(
                    f"  {count:>6} services, run {i + 1}: gen-iac {run.gen.wall:.2f} s wall, "
                    f"{run.gen.cpu:.2f} s cpu, {run.gen.peak_mib:.0f} MiB; floor "
                    f"{run.floor.wall:.2f} s",
                    flush=True,
                )
            snapshot.unlink()
            rows.append((count, runs))
    print(f"\n{load()} at the end")
    print(
        f"{'services':>8} {'wall s':>7} {'cpu s':>7} {'peak MiB':>9} {'files':>7} "
        f"{'MiB out':>8} {'floor s':>8} {'cpu s':>6} {'x floor':>8}"
    )
    for count, runs in rows:
        wall = statistics.median(r.gen.wall for r in runs)
        floor = statistics.median(r.floor.wall for r in runs)
        print(
            f"{count:>8} {wall:>7.2f} {statistics.median(r.gen.cpu for r in runs):>7.2f} "
            f"{statistics.median(r.gen.peak_mib for r in runs):>9.0f} "
            f"{runs[0].files:>7} {runs[0].bytes / 2**20:>8.1f} {floor:>8.2f} "
            f"{statistics.median(r.floor.cpu for r in runs):>6.2f} {wall / floor:>8.1f}"
        )
    if not args.day2_counts:
        return
    print(f"\nday 2 (median of {args.repeats}): {' + '.join(args.targets)}, source {ROOT}")
    print(f"{'services':>8} {'layout':<10} {'run':<22} {'wall s':>7} {'cpu s':>7} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory(prefix="gen-iac-bench-", dir=base) as tmp:
        for count in args.day2_counts:
            for layout in args.layouts:
                repeats = [
                    day2(Path(tmp), count, layout, args.targets) for _ in range(args.repeats)
                ]
                for n, name in enumerate(DAY2):
                    usage = [r[n] for r in repeats]
                    print(
                        f"{count:>8} {layout:<10} {name:<22} "
                        f"{statistics.median(u.wall for u in usage):>7.2f} "
                        f"{statistics.median(u.cpu for u in usage):>7.2f} "
                        f"{statistics.median(u.peak_mib for u in usage):>9.0f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
