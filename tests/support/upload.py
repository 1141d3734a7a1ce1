"""Run a generated upload-bundles.sh for real, with the stand-in `az` of tests.support.az
(Azure is mocked at the command line: ARM's recorded-shape answers, az's own query and output
code, every call recorded)."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from tests.support.az import Workspace, install, read_calls

# The workspace's default datastore as the stand-in ARM lists it: name, account, container.
DATASTORE_ROW = ("workspaceblobstore", "stmlwtest", "azureml-blobstore-test")
_WORKSPACE = re.compile(r"^workspace=(.*)$", re.MULTILINE)


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

    @property
    def urls(self) -> list[str]:
        """The URL of every `az rest` call, in order."""
        return [c[c.index("--url") + 1] for c in self.calls if c[:1] == ["rest"]]


def workspace_id(module_dir: Path) -> str:
    """The workspace's ARM id, as the script names it."""
    script = (module_dir / "upload-bundles.sh").read_text(encoding="utf-8")
    match = _WORKSPACE.search(script)
    assert match is not None
    return shlex.split(match.group(1))[0]


def empty_workspace(module_dir: Path) -> Workspace:
    """The workspace before the first deployment: its default datastore, no endpoint."""
    return Workspace(workspace_id(module_dir))


def run_upload(
    module_dir: Path,
    *args: str,
    datastore_row: str | None = None,
    fail_upload: bool = False,
    workspace: Workspace | None = None,
) -> UploadRun:
    """Runs the script against `workspace` (default: an empty one); `datastore_row` replaces
    its default datastore ("" for none, else name, account and container tab-separated)."""
    script = module_dir / "upload-bundles.sh"
    state = workspace or empty_workspace(module_dir)
    if datastore_row is not None:
        fields = datastore_row.split("\t")
        state = replace(
            state, datastore=(fields[0], fields[1], fields[2]) if len(fields) == 3 else None
        )
    with tempfile.TemporaryDirectory() as tmp:
        bin_dir = Path(tmp) / "bin"
        bin_dir.mkdir()
        log = Path(tmp) / "az.log"
        env = install(bin_dir, state, log, fail_upload)
        result = subprocess.run(
            ["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=120
        )
        calls = read_calls(log)
    return UploadRun(result.returncode, result.stdout, result.stderr, calls)


def upload_answer(module_dir: Path, workspace: Workspace | None = None) -> str:
    """GEN_IAC_UPLOAD as the documented what-if commands set it (--dry-run: the versions of
    the folders as they are, empty ones included, and what exists in `workspace`); fails
    loudly if the script fails. Runs are cached by the script, every file it reads and the
    workspace, so a change runs it again."""
    key = hashlib.sha256((module_dir / "upload-bundles.sh").read_bytes())
    bundles = module_dir.parent.parent / "bundles"
    for path in sorted(bundles.rglob("*")) if bundles.is_dir() else []:
        if path.is_file():
            key.update(str(path.relative_to(bundles)).encode() + b"\0" + path.read_bytes())
    state = workspace or empty_workspace(module_dir)
    key.update(json.dumps(state.answers(), sort_keys=True).encode())
    if key.hexdigest() not in _ANSWERS:
        run = run_upload(module_dir, "--dry-run", workspace=state)
        if run.returncode != 0:
            raise AssertionError(f"{shlex.quote(str(module_dir))}/upload-bundles.sh: {run.stderr}")
        _ANSWERS[key.hexdigest()] = run.stdout
    return _ANSWERS[key.hexdigest()]


_ANSWERS: dict[str, str] = {}
