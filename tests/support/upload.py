"""Run a generated upload-bundles.sh for real, with a stand-in `az` (Azure is mocked at the
command line: the stand-in answers the datastore query and records every call)."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# What `az rest ... --query ... --output tsv` answers for the default datastore.
DATASTORE_ROW = ("workspaceblobstore", "stmlwtest", "azureml-blobstore-test")

_STUB = """#!/usr/bin/env bash
set -euo pipefail
printf '%s\\0' "$@" >>"$AZ_LOG"
printf '\\n' >>"$AZ_LOG"
case "$1" in
  rest) printf '%s\\n' "$AZ_DATASTORE_ROW" ;;
  storage) if [ -n "${AZ_FAIL_UPLOAD:-}" ]; then echo "upload refused" >&2; exit 5; fi ;;
  *) echo "unexpected az call: $*" >&2; exit 9 ;;
esac
"""


@dataclass(frozen=True)
class UploadRun:
    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]  # every az invocation's arguments

    @property
    def answer(self) -> dict[str, object]:
        """The JSON the script printed (what GEN_IAC_UPLOAD holds)."""
        data: dict[str, object] = json.loads(self.stdout)
        return data

    @property
    def uploads(self) -> dict[str, str]:
        """--destination-path -> --source of every upload-batch call."""
        found = {}
        for call in self.calls:
            if call[:2] == ["storage", "blob"]:
                found[call[call.index("--destination-path") + 1]] = call[call.index("--source") + 1]
        return found


def run_upload(
    module_dir: Path,
    *args: str,
    datastore_row: str | None = None,
    fail_upload: bool = False,
) -> UploadRun:
    script = module_dir / "upload-bundles.sh"
    with tempfile.TemporaryDirectory() as tmp:
        bin_dir = Path(tmp) / "bin"
        bin_dir.mkdir()
        az = bin_dir / "az"
        az.write_text(_STUB, encoding="utf-8")
        az.chmod(0o755)
        log = Path(tmp) / "az.log"
        log.touch()
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "AZ_LOG": str(log),
            "AZ_DATASTORE_ROW": "\t".join(DATASTORE_ROW)
            if datastore_row is None
            else datastore_row,
        }
        if fail_upload:
            env["AZ_FAIL_UPLOAD"] = "1"
        result = subprocess.run(
            ["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=120
        )
        raw = log.read_bytes().decode("utf-8")
    calls = [
        [part for part in line.split("\0") if part] for line in raw.split("\n") if line.strip("\0")
    ]
    return UploadRun(result.returncode, result.stdout, result.stderr, calls)


def upload_answer(module_dir: Path) -> str:
    """GEN_IAC_UPLOAD as the documented what-if commands set it (--dry-run: the versions of
    the folders as they are, empty ones included); fails loudly if the script fails. Runs are
    cached by the script and every file it reads, so a changed file runs it again."""
    key = hashlib.sha256((module_dir / "upload-bundles.sh").read_bytes())
    bundles = module_dir.parent.parent / "bundles"
    for path in sorted(bundles.rglob("*")) if bundles.is_dir() else []:
        if path.is_file():
            key.update(str(path.relative_to(bundles)).encode() + b"\0" + path.read_bytes())
    if key.hexdigest() not in _ANSWERS:
        run = run_upload(module_dir, "--dry-run")
        if run.returncode != 0:
            raise AssertionError(f"{shlex.quote(str(module_dir))}/upload-bundles.sh: {run.stderr}")
        _ANSWERS[key.hexdigest()] = run.stdout
    return _ANSWERS[key.hexdigest()]


_ANSWERS: dict[str, str] = {}
