"""Golden cases: each is an input snapshot and the complete output tree gen-iac writes for it.

Regenerate every expected tree with `make golden` (python -m tests.regen), then read the diff.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from generator.pipeline import Options, generate
from generator.sources.overrides import Override

CASES_DIR = Path(__file__).resolve().parent / "cases"
ROOT = CASES_DIR.parent.parent
TARGETS = ("terraform", "bicep")


@dataclass(frozen=True)
class Case:
    name: str
    input: Path
    defaults: Override = field(default_factory=Override)  # flags without SERVICE=
    service_overrides: dict[str, Override] = field(default_factory=dict)  # SERVICE=VALUE flags
    pipelines: tuple[str, ...] = ()  # --pipeline

    @property
    def expected(self) -> Path:
        return CASES_DIR / self.name / "expected"


EXAMPLE = ROOT / "examples" / "snapshot"
CASES = (
    Case("example", EXAMPLE),
    # --pipeline github --pipeline azure-devops; the input also holds existing endpoints.
    Case("keys", CASES_DIR / "keys" / "input", pipelines=("github", "azure-devops")),
    # --endpoint-kind kubernetes --compute aks-v2: the AKS services on their own cluster.
    Case("kubernetes", EXAMPLE, Override(endpoint_kind="kubernetes", compute="aks-v2")),
    # --mirror ab-endpoint=10 --initial-traffic churn-aci=0 --deployment-name churn-aci=green
    Case(
        "rollout",
        EXAMPLE,
        service_overrides={
            "ab-endpoint": Override(mirror=10),
            "churn-aci": Override(initial_traffic=0, deployment_name="green"),
        },
    ),
)


def render_case(case: Case, out: Path) -> None:
    """Generate the case into `out` from a private copy of its input (keys.json gets 0600,
    which git cannot record) so that paths and modes never leak into the output."""
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = Path(tmp) / "snapshot"
        shutil.copytree(case.input, snapshot)
        keys = snapshot / "keys.json"
        if keys.exists():
            keys.chmod(0o600)
        generate(
            Options(
                input=snapshot,
                out=out,
                targets=TARGETS,
                defaults=case.defaults,
                service_overrides=case.service_overrides,
                pipelines=case.pipelines,
            )
        )
