"""The generated pipelines' logic, run on this machine.

The Terraform path (init with the lock file, plan saved with its commit, apply of exactly
that plan, a stale plan and a plan of another commit refused, an interrupted apply releasing
its lock) runs with the real `terraform` on PATH, on a small root module that uses only
Terraform's built-in `terraform_data` resource (the generated modules need the azapi provider,
which cannot be installed here). Azure itself (az, the GitHub and Azure DevOps APIs) is a stub
command on PATH that answers like the service and records its arguments.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from generator.pipeline import Options, generate
from generator.plan.model import MigrationPlan
from generator.render.pipelines import install_requirement, render_pipelines
from tests.golden import EXAMPLE
from tests.render.test_pipelines import (
    BIN,
    KEYS_INPUT,
    endpoint_layout,
    generated,
    load,
    write_stub,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


def terraform() -> str:
    found = shutil.which("terraform")
    assert found, "terraform (>= 1.11) must be on PATH: the pipelines' Terraform path runs on it"
    return found


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, _ = generated(tmp_path_factory.mktemp("scripts"), KEYS_INPUT)
    return root / "scripts"


def run(
    args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a CI step: no CI platform variable inherited from this machine."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "ACTIONS_", "SYSTEM_", "GEN_IAC_", "TF_", "PIP_"))
    }
    return {**env, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", **extra}


def git(repo: Path, *args: str) -> str:
    done = run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args], cwd=repo)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def fixture_repo(tmp_path: Path, body: str) -> Path:
    """A repository with one root module, `mod/`, that needs no provider download."""
    repo = tmp_path / "repo"
    (repo / "mod").mkdir(parents=True)
    (repo / "mod" / "main.tf").write_text(
        'terraform {\n  backend "local" {}\n}\n\n' + body, encoding="utf-8"
    )
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "module")
    return repo


def data(value: str) -> str:
    return f'resource "terraform_data" "x" {{\n  input = "{value}"\n}}\n'


def state_of(repo: Path) -> Any:
    done = run([terraform(), "-chdir=mod", "show", "-json"], cwd=repo, env=clean_env())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_saved_plan_is_applied_exactly_and_only_for_its_commit(
    scripts: Path, tmp_path: Path
) -> None:
    repo = fixture_repo(tmp_path, data("reviewed"))
    env = clean_env(PATH=f"{BIN}:{os.environ['PATH']}")
    plan = tmp_path / "plan"
    done = run(["bash", str(scripts / "terraform-plan.sh"), "mod", "k", str(plan)], repo, env)
    assert done.returncode == 0, done.stdout + done.stderr
    head = git(repo, "rev-parse", "HEAD")
    assert (plan / "commit").read_text().strip() == head
    assert sorted(p.name for p in plan.iterdir()) == [
        ".terraform.lock.hcl",
        "commit",
        "plan.json",
        "plan.txt",
        "tfplan",
    ]
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in (plan / "plan.txt").read_text()
    assert "creating it for linux_amd64; commit it" in done.stderr
    # The summary a reviewer reads before approving, from the saved plan.
    summary = run(
        ["bash", str(scripts / "job-summary.sh"), "Terraform plan: mod", str(plan)], repo, env
    )
    assert summary.returncode == 0
    assert "- `create terraform_data`: 1" in summary.stdout
    assert "    Plan: 1 to add, 0 to change, 0 to destroy." in summary.stdout

    # The code changes after the review (uncommitted here): the apply applies what was
    # reviewed, never a new plan of the files it finds.
    (repo / "mod" / "main.tf").write_text(
        'terraform {\n  backend "local" {}\n}\n\n' + data("unreviewed"), encoding="utf-8"
    )
    done = run(["bash", str(scripts / "terraform-apply.sh"), "mod", "k", str(plan)], repo, env)
    assert done.returncode == 0, done.stdout + done.stderr
    (resource,) = state_of(repo)["values"]["root_module"]["resources"]
    assert resource["values"]["input"] == "reviewed"

    # Applied once: the state moved on, Terraform refuses the same plan again.
    again = run(["bash", str(scripts / "terraform-apply.sh"), "mod", "k", str(plan)], repo, env)
    assert again.returncode != 0
    assert "Saved plan is stale" in again.stdout + again.stderr


def test_a_plan_from_another_commit_is_refused(scripts: Path, tmp_path: Path) -> None:
    repo = fixture_repo(tmp_path, data("one"))
    env = clean_env(PATH=f"{BIN}:{os.environ['PATH']}")
    plan = tmp_path / "plan"
    assert (
        run(
            ["bash", str(scripts / "terraform-plan.sh"), "mod", "k", str(plan)], repo, env
        ).returncode
        == 0
    )
    made = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--allow-empty", "-m", "main moved")
    done = run(["bash", str(scripts / "terraform-apply.sh"), "mod", "k", str(plan)], repo, env)
    assert done.returncode == 1
    now = git(repo, "rev-parse", "HEAD")
    assert done.stderr.strip() == (
        f"terraform-apply: the saved plan was made from commit {made}, this is {now}: "
        "refusing to apply a plan nobody reviewed for this commit"
    )
    assert not (repo / "mod" / "terraform.tfstate").exists()


def test_an_apply_past_its_budget_is_interrupted_and_releases_the_state_lock(
    scripts: Path, tmp_path: Path
) -> None:
    slow = (
        'resource "terraform_data" "x" {\n'
        '  input = "slow"\n'
        '  provisioner "local-exec" {\n'
        '    command = "sleep 60"\n'
        "  }\n"
        "}\n"
    )
    repo = fixture_repo(tmp_path, slow)
    env = clean_env(PATH=f"{BIN}:{os.environ['PATH']}")
    plan = tmp_path / "plan"
    assert (
        run(
            ["bash", str(scripts / "terraform-plan.sh"), "mod", "k", str(plan)], repo, env
        ).returncode
        == 0
    )
    env["GEN_IAC_APPLY_MINUTES"] = "0.05"  # 3 s
    done = run(["bash", str(scripts / "terraform-apply.sh"), "mod", "k", str(plan)], repo, env)
    assert done.returncode == 124, done.stdout + done.stderr
    assert "stopped after 0.05 minutes (interrupted" in done.stderr
    assert not (repo / "mod" / ".terraform.tfstate.lock.info").exists()
    # The lock is free: the next run can take it at once.
    unlocked = run(
        [terraform(), "-chdir=mod", "plan", "-lock-timeout=0s", "-input=false"], repo, env
    )
    assert unlocked.returncode == 0, unlocked.stderr


def test_the_init_keeps_an_existing_lock_file_read_only(scripts: Path, tmp_path: Path) -> None:
    """The backend flags go to the azurerm backend the script adds, never to a module's own."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    write_stub(stubs / "terraform", f'printf "%s\\n" "$*" >> {calls}\n')
    module = tmp_path / "m"
    module.mkdir()
    (module / "main.tf").write_text("# no backend\n")
    (module / ".terraform.lock.hcl").write_text("# locked\n")
    env = clean_env(
        PATH=f"{stubs}:/usr/bin:/bin",
        TFSTATE_RESOURCE_GROUP="rg-state",
        TFSTATE_STORAGE_ACCOUNT="ststate",
        TFSTATE_CONTAINER="tfstate",
    )
    done = run(
        ["bash", str(scripts / "terraform-init.sh"), str(module), "gen-iac/ws.tfstate"], env=env
    )
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == [
        f"-chdir={module} init -input=false -lockfile=readonly "
        "-backend-config=resource_group_name=rg-state -backend-config=storage_account_name=ststate "
        "-backend-config=container_name=tfstate -backend-config=key=gen-iac/ws.tfstate "
        "-backend-config=use_azuread_auth=true -backend-config=use_oidc=true"
    ]
    assert (module / "gen_iac_backend.tf").read_text() == 'terraform {\n  backend "azurerm" {}\n}\n'
    del env["TFSTATE_CONTAINER"]
    (module / "gen_iac_backend.tf").unlink()
    done = run(["bash", str(scripts / "terraform-init.sh"), str(module), "k"], env=env)
    assert done.returncode == 1
    assert "set the pipeline variable TFSTATE_CONTAINER" in done.stderr


@pytest.mark.parametrize(("status", "result"), [(0, 0), (4, 1), (2, 1)])
def test_the_post_apply_invoke_fails_loudly_when_an_endpoint_does_not_answer(
    scripts: Path, tmp_path: Path, status: int, result: int
) -> None:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    write_stub(stubs / "gen-iac", f'printf "%s\\n" "$*" >> {calls}\nexit {status}\n')
    env = clean_env(PATH=f"{stubs}:/usr/bin:/bin", GEN_IAC_OUT="out")
    done = run(["bash", str(scripts / "verify-endpoints.sh")], env=env)
    assert done.returncode == result
    assert calls.read_text() == "verify --out out --v2-only\n"
    if status == 4:
        assert "an endpoint did not answer its sample request as expected" in done.stderr


def test_the_post_apply_invoke_is_bounded_in_time(scripts: Path, tmp_path: Path) -> None:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    write_stub(stubs / "gen-iac", "sleep 30\n")
    env = clean_env(PATH=f"{stubs}:/usr/bin:/bin", GEN_IAC_OUT="out", GEN_IAC_VERIFY_MINUTES="0.02")
    done = run(["bash", str(scripts / "verify-endpoints.sh")], env=env)
    assert done.returncode == 1
    assert "no answer within 0.02 minutes; the deployment logs follow" in done.stderr


def test_output_is_data_on_github(scripts: Path) -> None:
    hostile = "printf '%s\\n' '::set-env name=X::1' '##vso[task.setvariable variable=x]1'; exit 7"
    done = run(
        ["bash", str(scripts / "as-data.sh"), "bash", "-c", hostile],
        env=clean_env(GITHUB_ACTIONS="true"),
    )
    assert done.returncode == 7
    lines = done.stdout.splitlines()
    start = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", lines[0])
    assert start, lines[0]
    assert lines[1:] == [
        "::set-env name=X::1",
        "##vso[task.setvariable variable=x]1",
        f"::{start[1]}::",
    ]


def test_output_is_data_on_azure_pipelines(scripts: Path) -> None:
    hostile = "echo '##vso[task.setvariable variable=x]1'; echo '##[error]x' >&2; exit 3"
    done = run(
        ["bash", str(scripts / "as-data.sh"), "bash", "-c", hostile], env=clean_env(TF_BUILD="True")
    )
    assert done.returncode == 3
    assert done.stdout.splitlines() == ["##_vso[task.setvariable variable=x]1", "##_[error]x"]


def test_gen_iac_is_installed_only_from_a_source_the_person_controls(
    scripts: Path, tmp_path: Path
) -> None:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    write_stub(stubs / "python", f'printf "%s\\n" "$*" >> {calls}\n')
    write_stub(stubs / "gen-iac", "echo gen-iac 0.1.0\n")
    script = str(scripts / "install-gen-iac.sh")

    def install(**env: str) -> subprocess.CompletedProcess[str]:
        return run(
            ["bash", script, "server>=1"], env=clean_env(PATH=f"{stubs}:/usr/bin:/bin", **env)
        )

    nothing = install()
    assert nothing.returncode == 1
    assert nothing.stderr.count("\n") == 1
    assert "set the pipeline variable GEN_IAC_INSTALL" in nothing.stderr
    bare = install(GEN_IAC_INSTALL="gen-iac==0.1.0")
    assert bare.returncode == 1 and "names no URL or wheel" in bare.stderr
    assert not calls.exists()
    spec = f"gen-iac @ git+https://github.com/contoso/gen-iac@{SHA}"
    for env in (
        {"GEN_IAC_INSTALL": spec},
        {"GEN_IAC_INSTALL_RECORDED": spec},
        {"GEN_IAC_INSTALL": "./tools/gen_iac-0.1.0-py3-none-any.whl"},
        {"GEN_IAC_INSTALL": "gen-iac==0.1.0", "PIP_INDEX_URL": "https://pkgs.contoso.com/simple"},
    ):
        assert install(**env).returncode == 0
    assert calls.read_text().splitlines() == [
        f"-m pip install --disable-pip-version-check --quiet {spec} server>=1",
        f"-m pip install --disable-pip-version-check --quiet {spec} server>=1",
        "-m pip install --disable-pip-version-check --quiet "
        "./tools/gen_iac-0.1.0-py3-none-any.whl server>=1",
        "-m pip install --disable-pip-version-check --quiet gen-iac==0.1.0 server>=1",
    ]


def pipeline_texts(root: Path) -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(root.rglob("*")) if p.is_file()]


@pytest.mark.parametrize("which", ["example", "keyed", "endpoint"])
def test_no_step_installs_gen_iac_by_a_bare_public_name(which: str, tmp_path: Path) -> None:
    snapshot = KEYS_INPUT if which == "keyed" else EXAMPLE
    root, plan = generated(tmp_path / "gen", snapshot)
    if which == "endpoint":
        root = endpoint_layout(tmp_path / "ep", plan)
    for path, text in pipeline_texts(root):
        installs = [line for line in text.splitlines() if "pip install" in line]
        if path.name == "install-gen-iac.sh":
            assert installs == [
                'python -m pip install --disable-pip-version-check --quiet "$spec" "$@"'
            ]
        else:
            assert installs == [], path
        assert "gen-iac==" not in text or path.name in {"install-gen-iac.sh", "README.md"}, path


def jobs_of(path: Path) -> dict[str, Any]:
    jobs = load(path)["jobs"]
    assert isinstance(jobs, dict)
    return jobs


@pytest.mark.parametrize("which", ["example", "keyed", "endpoint"])
def test_snapshot_code_gets_no_token_and_pull_requests_never_reach_the_apply_identity(
    which: str, tmp_path: Path
) -> None:
    snapshot = KEYS_INPUT if which == "keyed" else EXAMPLE
    root, plan = generated(tmp_path / "gen", snapshot)
    if which == "endpoint":
        root = endpoint_layout(tmp_path / "ep", plan)
    environment = f"gen-iac-{plan.workspace.name}"
    for path in sorted((root / "github").glob("*.yml")):
        assert load(path)["permissions"] == {}
        for name, job in jobs_of(path).items():
            text = json.dumps(job)
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
                if "uses" in step:
                    assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            runs_snapshot_code = "gen-iac --check" in text or "smoke-bundles.sh" in text
            if runs_snapshot_code:
                assert job["permissions"] == {"contents": "read"}, (path, name)
                assert "secrets." not in text and "CLIENT_ID" not in text
            if "AZURE_APPLY_CLIENT_ID" in text or "secrets." in text:
                # Only after the approval, on a push of the deploy branch.
                assert job["environment"] == environment, (path, name)
                assert job["if"] == "github.event_name == 'push'", (path, name)
                assert "require-protected-environment.sh" in text or name == "verify"
            if job.get("if") != "github.event_name == 'push'":
                assert "environment" not in job and "AZURE_APPLY_CLIENT_ID" not in text
    for path in sorted((root / "azure-devops").glob("gen-iac-*.yml")):
        for stage in load(path)["stages"]:
            text = json.dumps(stage)
            if stage["stage"] in {"check", "smoke"}:
                assert "azureSubscription" not in text and "AccessToken" not in text
            if "variables.GEN_IAC_SERVICE_CONNECTION }}" in text:
                assert "refs/heads/main" in stage["condition"], stage["stage"]
                assert "PullRequest" in stage["condition"]


def test_the_environment_gate_is_checked_through_the_platform_api(
    scripts: Path, tmp_path: Path
) -> None:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    reply = tmp_path / "reply"
    calls = tmp_path / "calls"
    write_stub(stubs / "curl", f'printf "%s\\n" "$*" >> {calls}\ncat {reply}\n')
    script = str(scripts / "require-protected-environment.sh")
    github = clean_env(
        PATH=f"{stubs}:/usr/bin:/bin",
        GITHUB_ACTIONS="true",
        GITHUB_TOKEN="t0ken",
        GITHUB_REPOSITORY="contoso/ml",
        GITHUB_API_URL="https://api.github.com",
    )
    # GET /repos/{owner}/{repo}/environments/{name}, as GitHub documents its answer.
    reply.write_text(
        json.dumps({"name": "gen-iac-ws", "protection_rules": [{"id": 1, "type": "branch_policy"}]})
    )
    done = run(["bash", script, "gen-iac-ws"], env=github)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "require-protected-environment: the environment gen-iac-ws has no required reviewers; "
        "add it (pipelines/README.md) before anything is applied"
    )
    assert "https://api.github.com/repos/contoso/ml/environments/gen-iac-ws" in calls.read_text()
    reply.write_text(
        json.dumps(
            {
                "name": "gen-iac-ws",
                "protection_rules": [{"id": 2, "type": "required_reviewers", "reviewers": []}],
            }
        )
    )
    assert run(["bash", script, "gen-iac-ws"], env=github).returncode == 0

    ado = clean_env(
        PATH=f"{stubs}:/usr/bin:/bin",
        SYSTEM_COLLECTIONURI="https://dev.azure.com/contoso/",
        SYSTEM_TEAMPROJECTID="p1",
        SYSTEM_ACCESSTOKEN="t0ken",
    )
    calls.unlink()
    reply.write_text(json.dumps({"count": 1, "value": [{"id": 7, "name": "gen-iac-ws"}]}))
    done = run(["bash", script, "gen-iac-ws"], env=ado)
    # The same reply (no check configurations) answers the checks query: no Approval.
    assert done.returncode == 1 and "has no Approvals check" in done.stderr
    assert "resourceId=7" in calls.read_text()
    assert (
        "https://dev.azure.com/contoso/p1/_apis/pipelines/checks/configurations"
        in calls.read_text()
    )


def sign_in_stubs(tmp_path: Path, reply: dict[str, str]) -> tuple[Path, Path]:
    """`curl` answering the platform's OIDC token request with `reply`, and `az`; both record
    their arguments in the calls file."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    answer = shlex.quote(json.dumps(reply))
    write_stub(stubs / "curl", f'printf "curl %s\\n" "$*" >> {calls}\necho {answer}\n')
    write_stub(stubs / "az", f'printf "az %s\\n" "$*" >> {calls}\n')
    return stubs, calls


def test_az_signs_in_again_with_a_fresh_oidc_token(scripts: Path, tmp_path: Path) -> None:
    stubs, calls = sign_in_stubs(tmp_path, {"value": "id-tok"})
    env = clean_env(
        PATH=f"{stubs}:/usr/bin:/bin",
        GITHUB_ACTIONS="true",
        ARM_CLIENT_ID="cid",
        ARM_TENANT_ID="tid",
        ARM_SUBSCRIPTION_ID="sub",
        ACTIONS_ID_TOKEN_REQUEST_URL="https://token.actions/x?a=1",
        ACTIONS_ID_TOKEN_REQUEST_TOKEN="req",
    )
    done = run(["bash", str(scripts / "az-login.sh")], env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "::add-mask::id-tok\n"
    assert calls.read_text().splitlines()[1:] == [
        "az login --service-principal --username cid --tenant tid --federated-token id-tok "
        "--allow-no-subscriptions --output none",
        "az account set --subscription sub",
    ]
    del env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    done = run(["bash", str(scripts / "az-login.sh")], env=env)
    assert done.returncode == 1 and "id-token: write" in done.stderr


def test_az_signs_in_again_on_azure_pipelines_through_the_service_connection(
    scripts: Path, tmp_path: Path
) -> None:
    stubs, calls = sign_in_stubs(tmp_path, {"oidcToken": "ado-tok"})
    env = clean_env(
        PATH=f"{stubs}:/usr/bin:/bin",
        SYSTEM_OIDCREQUESTURI="https://dev.azure.com/contoso/p1/_apis/oidctoken/",
        SYSTEM_ACCESSTOKEN="sys",
        GEN_IAC_CONNECTION_ID="sc-1",
        ARM_CLIENT_ID="cid",
        ARM_TENANT_ID="tid",
        ARM_SUBSCRIPTION_ID="sub",
    )
    done = run(["bash", str(scripts / "az-login.sh")], env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "##vso[task.setsecret]ado-tok\n"
    curl, login, account = calls.read_text().splitlines()
    assert curl.startswith("curl --silent --show-error --fail --retry 3 --request POST ")
    assert curl.endswith(
        "https://dev.azure.com/contoso/p1/_apis/oidctoken?api-version=7.1&serviceConnectionId=sc-1"
    )
    assert login == (
        "az login --service-principal --username cid --tenant tid --federated-token ado-tok "
        "--allow-no-subscriptions --output none"
    )
    assert account == "az account set --subscription sub"
    del env["GEN_IAC_CONNECTION_ID"]
    done = run(["bash", str(scripts / "az-login.sh")], env=env)
    assert done.returncode == 1 and "set the service connection ID in settings.yml" in done.stderr


@pytest.mark.parametrize(
    ("states", "status"), [("Running Running Succeeded", 0), ("Running Failed", 1)]
)
def test_a_long_deployment_is_followed_with_fresh_sign_ins(
    tmp_path: Path, states: str, status: int
) -> None:
    root, _ = generated(tmp_path / "gen", targets=("bicep",))
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    queue = tmp_path / "states"
    queue.write_text("\n".join(states.split()) + "\n")
    # az deployment group show answers the next state; every call is recorded.
    write_stub(
        stubs / "az",
        f'printf "az %s\\n" "$*" >> {calls}\n'
        'case "$*" in *"deployment group show"*)\n'
        f"  head -n 1 {queue}; sed -i 1d {queue} ;;\nesac\n",
    )
    write_stub(stubs / "curl", 'echo \'{"value": "tok"}\'\n')
    env = clean_env(
        PATH=f"{stubs}:/usr/bin:/bin",
        GITHUB_ACTIONS="true",
        ACTIONS_ID_TOKEN_REQUEST_URL="https://t/x?a=1",
        ACTIONS_ID_TOKEN_REQUEST_TOKEN="r",
        ARM_CLIENT_ID="cid",
        ARM_TENANT_ID="tid",
        ARM_SUBSCRIPTION_ID="sub",
        GEN_IAC_RESOURCE_GROUP="rg",
        GEN_IAC_RELOGIN_MINUTES="0",
        GEN_IAC_POLL_SECONDS="0",
    )
    done = run(["bash", str(root / "scripts" / "wait-deployment.sh"), "gen-iac-ws"], env=env)
    assert done.returncode == status, done.stdout + done.stderr
    made = calls.read_text().splitlines()
    shows = [c for c in made if "deployment group show" in c]
    assert len(shows) == len(states.split())
    # Signed in again before every look at the deployment.
    assert len([c for c in made if c.startswith("az login ")]) == len(shows)
    if status:
        assert "wait-deployment: gen-iac-ws: Failed" in done.stderr
        assert any("deployment operation group list" in c for c in made)


def test_models_are_downloaded_and_a_missing_one_is_reported(tmp_path: Path) -> None:
    root, _ = generated(tmp_path / "gen")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    # az ml model download writes DOWNLOAD_PATH/NAME/...; fraud-gbm cannot be had.
    write_stub(
        stubs / "az",
        'case "$*" in\n'
        "  *fraud-gbm*) echo 'ERROR: not found' >&2; exit 1 ;;\n"
        '  *"model download"*)\n'
        '    while [ "$#" -gt 0 ]; do case "$1" in --name) n="$2";; --download-path) d="$2";; esac; shift; done\n'
        '    mkdir -p "$d/$n" && echo weights > "$d/$n/model.pkl" ;;\n'
        "esac\n",
    )
    dest = tmp_path / "models"
    env = clean_env(PATH=f"{stubs}:/usr/bin:/bin")
    done = run(["bash", str(root / "scripts" / "download-models.sh"), str(dest)], env=env)
    assert done.returncode == 0
    assert (dest / "churn-aci-blue" / "model.pkl").read_text() == "weights\n"
    assert (dest / "missing.txt").read_text() == "fraud-aks-blue\n"
    assert "fraud-aks-blue: model fraud-gbm:12 cannot be downloaded" in done.stderr


def test_keyed_check_passes_without_keys_json(tmp_path: Path) -> None:
    """keys.json is not committed; the pipeline's stand-in gives --check the same output."""
    snapshot, out = tmp_path / "snapshot", tmp_path / "out"
    shutil.copytree(KEYS_INPUT, snapshot)
    (snapshot / "keys.json").chmod(0o600)
    options = Options(
        input=snapshot,
        out=out,
        targets=("terraform", "bicep"),
        pipelines=("github", "azure-devops"),
    )
    generate(options)
    (snapshot / "keys.json").unlink()
    without = generate(replace(options, check=True)).check
    assert without is not None and not without.up_to_date  # the trap this avoids
    done = run(["bash", str(out / "pipelines" / "scripts" / "stand-in-keys.sh"), str(snapshot)])
    assert done.returncode == 0, done.stderr
    assert (snapshot / "keys.json").stat().st_mode & 0o777 == 0o600
    check = generate(replace(options, check=True)).check
    assert check is not None
    assert check.up_to_date, check.lines(out)


def test_the_person_owns_the_azure_pipelines_settings(tmp_path: Path) -> None:
    root, _ = generated(tmp_path)
    settings = root / "azure-devops" / "settings.yml"
    edited = settings.read_text().replace('value: "ubuntu-latest"', 'value: "self-hosted-1"')
    settings.write_text(edited)
    options = Options(
        input=tmp_path / "snapshot",
        out=tmp_path / "out",
        targets=("terraform", "bicep"),
        pipelines=("github", "azure-devops"),
    )
    check = generate(replace(options, check=True)).check
    assert check is not None
    assert check.up_to_date, check.lines(options.out)
    generate(options)
    assert settings.read_text() == edited


def test_the_deploy_branch_is_a_generator_option(example_plan: MigrationPlan) -> None:
    files = {
        f.path: f.text
        for f in render_pipelines(
            example_plan, ("github", "azure-devops"), ("terraform",), branch="release/2026"
        )
    }
    wf = load_text(files["pipelines/github/gen-iac-mlw-contoso-prod-terraform.yml"])
    assert wf[True]["push"] == {"branches": ["release/2026"]}
    check = json.dumps(wf["jobs"]["check"])
    assert "--pipeline-branch release/2026" in check
    ado = files["pipelines/azure-devops/gen-iac-mlw-contoso-prod-terraform.yml"]
    assert "eq(variables['Build.SourceBranch'], 'refs/heads/release/2026')" in ado


def load_text(text: str) -> dict[Any, Any]:
    import yaml

    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def example_plan(tmp_path_factory: pytest.TempPathFactory) -> MigrationPlan:
    return generated(tmp_path_factory.mktemp("plan"))[1]


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        (
            {
                "url": "https://github.com/contoso/gen-iac",
                "vcs_info": {"vcs": "git", "commit_id": SHA},
            },
            f"gen-iac @ git+https://github.com/contoso/gen-iac@{SHA}",
        ),
        (
            {
                "url": "https://pkgs.contoso.com/gen_iac-0.1.0-py3-none-any.whl",
                "archive_info": {"hashes": {"sha256": "a" * 64}},
            },
            f"gen-iac @ https://pkgs.contoso.com/gen_iac-0.1.0-py3-none-any.whl#sha256={'a' * 64}",
        ),
        # Not portable, or not safe to write down: nothing recorded.
        ({"url": "file:///work/gen-iac", "dir_info": {"editable": True}}, ""),
        ({"url": "file:///tmp/gen_iac-0.1.0-py3-none-any.whl", "archive_info": {}}, ""),
        (
            {
                "url": "https://user:tok@github.com/c/gen-iac",
                "vcs_info": {"vcs": "git", "commit_id": SHA},
            },
            "",
        ),
        (
            {
                "url": "https://github.com/c/gen-iac",
                "vcs_info": {"vcs": "git", "commit_id": "main"},
            },
            "",
        ),
        ({"url": "https://x/${{ secrets.A }}", "vcs_info": {"vcs": "git", "commit_id": SHA}}, ""),
        (None, ""),
    ],
)
def test_the_install_source_is_recorded_from_how_gen_iac_was_installed(
    direct_url: dict[str, Any] | None, expected: str
) -> None:
    assert install_requirement(direct_url) == expected
