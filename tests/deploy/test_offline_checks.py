"""The offline checks `make test` runs on the deployment (deploy/checks.py), and proof that each
one does catch what it is there for: the Kubernetes schemas, hadolint, checkov."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.checks import (
    KUBERNETES_VERSIONS,
    TOOLS_VENV,
    checkov_executable,
    checkov_findings,
    hadolint_findings,
    render,
    schema_problems,
    write_manifests,
    write_scanned,
)
from tests.deploy.conftest import VALUE_SETS, Render, container_of, pod_spec


def test_every_rendered_object_is_valid_for_the_oldest_and_newest_kubernetes(
    each_render: Render,
) -> None:
    assert KUBERNETES_VERSIONS[0] == "1.27.0"
    assert schema_problems(each_render.objects) == []


def test_the_schemas_refuse_what_a_cluster_would_refuse(renders: dict[str, Render]) -> None:
    api = copy.deepcopy(renders["default"].deployment("api"))
    container_of(api)["resources"]["limits"]["cpu"] = {"cores": 2}
    pod_spec(api)["restartPolcy"] = "Always"
    problems = schema_problems([api])
    assert len(problems) == len(KUBERNETES_VERSIONS)
    assert all(problem.startswith("Deployment/mastery-engine-api") for problem in problems)


def test_the_dockerfile_has_no_hadolint_finding() -> None:
    assert hadolint_findings() == []


def test_hadolint_reports_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN pip install mastery-engine\nCMD mastery serve\n")
    codes = {finding.split()[1] for finding in hadolint_findings(careless)}
    assert {"DL3007", "DL3013", "DL3042", "DL3025"} <= codes


@pytest.fixture(scope="module")
def checkov_on_chart() -> Iterator[list[str]]:
    """One checkov run over every value set's render, the Dockerfile, and a careless render
    (a writable root, no limits) that must be caught. In the system's temporary folder, not
    under pytest's --basetemp: checkov skips anything under a dot-directory (.pytest-tmp)."""
    if checkov_executable() is None:
        pytest.skip(f"checkov is not installed in {TOOLS_VENV}: `make tools` creates it")
    with tempfile.TemporaryDirectory(prefix="mastery-checkov-") as name:
        folder = Path(name)
        yield _scanned_with_a_careless_render(folder)


def test_checkov_refuses_to_pass_a_folder_it_skipped(tmp_path: Path) -> None:
    if checkov_executable() is None:
        pytest.skip(f"checkov is not installed in {TOOLS_VENV}: `make tools` creates it")
    hidden = tmp_path / ".hidden"
    hidden.mkdir()
    write_scanned(hidden)
    with pytest.raises(RuntimeError, match="not every framework"):
        checkov_findings(hidden)


def _scanned_with_a_careless_render(folder: Path) -> list[str]:
    write_scanned(folder)
    careless = render(VALUE_SETS["default"])
    for each in careless:
        if each["kind"] == "Deployment" and each["metadata"]["name"] == "mastery-engine-api":
            container = container_of(each)
            container["securityContext"]["readOnlyRootFilesystem"] = False
            del container["resources"]["limits"]
    write_manifests(folder / "careless.yaml", careless)
    return [f"{each.file}: {each}" for each in checkov_findings(folder)]


def test_checkov_finds_nothing_in_the_chart_or_the_dockerfile(
    checkov_on_chart: list[str],
) -> None:
    assert [each for each in checkov_on_chart if not each.startswith("careless.yaml")] == []


def test_checkov_catches_a_writable_root_and_missing_limits(checkov_on_chart: list[str]) -> None:
    caught = {each.split()[1] for each in checkov_on_chart if each.startswith("careless.yaml")}
    assert {"CKV_K8S_22", "CKV_K8S_11", "CKV_K8S_13"} <= caught
