"""The generated Terraform through the real engine (scripts/toolchain.sh provides it).

`terraform fmt -check` needs no provider, so every root module gen-iac writes is checked with the
engine itself here: both layouts, with pipelines, the example and a 50-service workspace.
`init`, `validate` and `plan` need the azapi and azurerm providers, which the Go module proxy
reachable from these machines does not serve (scripts/toolchain.sh names the exact modules).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from generator.pipeline import Options, generate
from tests.conftest import EXAMPLE, ROOT

MIN_ENGINE = (1, 11)
# The toolchain's CLI configuration (its provider mirror): a missing ~/.terraformrc named by the
# environment makes the engine print warnings, on stdout for OpenTofu.
CLI_CONFIG = ROOT / ".tools/terraform.rc"


def engine(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if CLI_CONFIG.exists():
        env["TF_CLI_CONFIG_FILE"] = str(CLI_CONFIG)
    else:
        env.pop("TF_CLI_CONFIG_FILE", None)
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="session")
def terraform() -> str:
    """The engine: .tools/bin/terraform (scripts/toolchain.sh) or `terraform` on PATH."""
    built = ROOT / ".tools/bin/terraform"
    found = str(built) if built.exists() else shutil.which("terraform")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("no Terraform engine in CI: run scripts/toolchain.sh (make test does)")
    pytest.skip("no Terraform engine: run scripts/toolchain.sh")


def bulk_snapshot(directory: Path, copies: int) -> Path:
    """The example's services `copies` times over under new names, each with its assets."""
    doc = json.loads((EXAMPLE / "snapshot.json").read_text(encoding="utf-8"))
    services = []
    for n in range(copies):
        for service in doc["services"]:
            clone = json.loads(json.dumps(service))
            clone["name"] = f"{service['name'][:24]}-{n:02d}"
            services.append(clone)
            assets = EXAMPLE / "assets" / service["name"]
            if assets.is_dir():
                shutil.copytree(assets, directory / "assets" / clone["name"])
    (directory / "snapshot.json").write_text(
        json.dumps({"workspace": doc["workspace"], "services": services}), encoding="utf-8"
    )
    return directory


def fmt_check(terraform: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return engine(terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(folder))


def test_the_engine_is_recent_enough_for_write_only_arguments(terraform: str) -> None:
    version = json.loads(engine(terraform, "version", "-json").stdout)["terraform_version"]
    assert tuple(int(part) for part in version.split(".")[:2]) >= MIN_ENGINE, version


@pytest.mark.parametrize("layout", ["workspace", "endpoint"])
def test_every_root_module_is_fmt_clean(terraform: str, tmp_path: Path, layout: str) -> None:
    bulk = bulk_snapshot(tmp_path / "bulk", copies=7)
    for name, snapshot in (("example", EXAMPLE), ("bulk", bulk)):
        out = tmp_path / f"out-{name}"
        generate(
            Options(
                input=snapshot,
                out=out,
                targets=("terraform",),
                layout=layout,
                pipelines=("github", "azure-devops"),
            )
        )
        modules = {path.parent for path in (out / "terraform").rglob("*.tf")}
        assert len(modules) >= (1 if layout == "workspace" else 5), modules
        result = fmt_check(terraform, out / "terraform")
        assert result.returncode == 0, result.stdout + result.stderr


def test_fmt_check_fails_on_a_badly_formatted_module(terraform: str, tmp_path: Path) -> None:
    """The check above can fail: the engine reports a module whose alignment a person broke."""
    generate(Options(out=tmp_path / "out", targets=("terraform",)))
    module = next((tmp_path / "out/terraform").iterdir())
    path = module / "terraform.tf"
    path.write_text(path.read_text(encoding="utf-8").replace("source  =", "source ="))
    result = fmt_check(terraform, module)
    assert result.returncode != 0
    assert "terraform.tf" in result.stdout
