"""The deployment's offline checks: the Dockerfile linted (hadolint), the Helm chart rendered for
each value set in its ``ci/`` folder (Helm's own Go engine through ``helm-python-sdk``, no cluster
and no helm binary), every rendered object validated against the Kubernetes JSON schemas
(``kubernetes-validate``, offline), and the manifests and the Dockerfile scanned by checkov.

``python -m deploy.checks`` runs them all and exits 1 on any finding (``make deploy-check``);
``tests/deploy`` asserts on the same renders. checkov's pins clash with the product's, so it
lives in its own virtual environment (``make tools`` makes ``.venv-tools``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "mastery-engine"
VALUE_SETS = CHART / "ci"
DOCKERFILE = ROOT / "Dockerfile"
CHECKOV_CONFIG = ROOT / "deploy" / "checkov.yaml"
TOOLS_VENV = ROOT / ".venv-tools"
RELEASE = "mastery-engine"
NAMESPACE = "learning"
# The chart's minimum (Chart.yaml's kubeVersion) and the newest kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())

Manifest = dict[str, Any]


def value_sets() -> dict[str, Manifest]:
    """The named value sets of ``ci/`` (``default``, ``cluster-sasl``, ...)."""
    return {
        path.name.removesuffix("-values.yaml"): yaml.safe_load(path.read_text()) or {}
        for path in sorted(VALUE_SETS.glob("*-values.yaml"))
    }


def render_files(values: Manifest, *, upgrade: bool = False) -> dict[str, str]:
    """Template path -> rendered YAML, as ``helm template`` would write them."""
    with helm_python.Chart.load(CHART) as chart:
        rendered = chart.render(
            values, name=RELEASE, namespace=NAMESPACE, is_install=not upgrade, is_upgrade=upgrade
        )
    return {path: text for path, text in rendered.items() if path.endswith(".yaml")}


def render(values: Manifest, *, upgrade: bool = False) -> list[Manifest]:
    """Every object the chart renders with ``values``."""
    return [
        each
        for text in render_files(values, upgrade=upgrade).values()
        for each in yaml.safe_load_all(text)
        if each
    ]


def schema_problems(objects: Iterable[Manifest]) -> list[str]:
    """What the Kubernetes schemas (strict: no unknown field) refuse, for each version."""
    problems = []
    for each in objects:
        name = f"{each.get('kind')}/{each.get('metadata', {}).get('name')}"
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(each, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{name} (Kubernetes {version}): {exc.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{name}: no schema for it in Kubernetes {version}")
    return problems


def hadolint_findings(dockerfile: Path = DOCKERFILE) -> list[str]:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(  # noqa: S603 - fixed executables, no shell
        [str(hadolint), "--no-color", "--format", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"hadolint failed: {result.stderr.strip() or result.returncode}")
    return [
        f"{dockerfile.name}:{each['line']} {each['code']} {each['message']}"
        for each in json.loads(result.stdout)
    ]


def checkov_executable() -> Path | None:
    candidate = TOOLS_VENV / "bin" / "checkov"
    return candidate if candidate.exists() else None


@dataclass(frozen=True)
class Finding:
    check: str
    title: str
    resource: str
    file: str

    def __str__(self) -> str:
        return f"{self.check} {self.title}: {self.resource} in {self.file}"


SCANNED_FRAMEWORKS = frozenset({"kubernetes", "dockerfile"})


def checkov_findings(folder: Path) -> list[Finding]:
    """checkov's failed checks over the manifests and Dockerfiles in ``folder``. The checks the
    templates skip each say why, in a ``checkov.io/skip`` annotation."""
    checkov = checkov_executable()
    if checkov is None:
        raise FileNotFoundError(f"checkov is not installed in {TOOLS_VENV}: run `make tools`")
    result = subprocess.run(  # noqa: S603 - fixed executables, no shell
        [str(checkov), "--config-file", str(CHECKOV_CONFIG), "--directory", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov failed ({result.returncode}): {result.stderr[-2000:]}")
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    scanned = {
        report.get("check_type")
        for report in reports
        if report.get("summary", {}).get("resource_count", 0) > 0
    }
    if not scanned >= SCANNED_FRAMEWORKS:
        # checkov skips what it takes for hidden (a folder under a dot-directory, such as a
        # pytest --basetemp of .pytest-tmp) and then reports no finding: never a pass.
        raise RuntimeError(
            f"checkov scanned {sorted(str(s) for s in scanned) or 'nothing'} in {folder}, "
            f"not every framework of {sorted(SCANNED_FRAMEWORKS)}"
        )
    return [
        Finding(
            failed["check_id"],
            failed["check_name"],
            failed["resource"],
            Path(failed["file_path"]).name,
        )
        for report in reports
        for failed in report.get("results", {}).get("failed_checks", [])
    ]


def write_manifests(path: Path, objects: Iterable[Manifest]) -> None:
    path.write_text("\n---\n".join(yaml.safe_dump(each, sort_keys=False) for each in objects))


def write_scanned(folder: Path) -> None:
    """What checkov scans: one file of manifests per value set, and the Dockerfile."""
    for name, values in value_sets().items():
        write_manifests(folder / f"{name}.yaml", render(values))
    shutil.copyfile(DOCKERFILE, folder / "Dockerfile")


def findings() -> Iterator[str]:
    yield from hadolint_findings()
    for name, values in value_sets().items():
        yield from (f"[{name}] {problem}" for problem in schema_problems(render(values)))
    with tempfile.TemporaryDirectory(prefix="mastery-chart-") as folder:
        write_scanned(Path(folder))
        yield from (str(each) for each in checkov_findings(Path(folder)))


def main() -> int:
    found = list(findings())
    for each in found:
        print(each)
    sets = ", ".join(value_sets())
    print(f"deploy checks: {len(found)} findings (Dockerfile; chart value sets: {sets})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
