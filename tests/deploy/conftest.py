"""The chart rendered offline (Helm's Go engine through helm-python-sdk) for the value sets in
its ``ci/`` folder, and what tests look up in a render."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from typing import Any

import pytest

from deploy.checks import Manifest, render, value_sets

VALUE_SETS = value_sets()
WORKLOAD_KINDS = {"Deployment", "Job"}


class Render:
    """The objects one set of values renders."""

    def __init__(self, values: Manifest, *, upgrade: bool = False) -> None:
        self.values = values
        self.objects = render(values, upgrade=upgrade)

    def all(self, kind: str) -> list[Manifest]:
        return [each for each in self.objects if each["kind"] == kind]

    def one(self, kind: str, name: str) -> Manifest:
        found = [each for each in self.all(kind) if each["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
        return found[0]

    def deployment(self, component: str) -> Manifest:
        return self.one("Deployment", f"mastery-engine-{component}")

    def workloads(self) -> list[Manifest]:
        return [each for each in self.objects if each["kind"] in WORKLOAD_KINDS]

    def containers(self) -> Iterator[tuple[str, Manifest]]:
        for workload in self.workloads():
            for container in pod_spec(workload)["containers"]:
                yield f"{workload['metadata']['name']}/{container['name']}", container

    def secret_data(self, name: str = "mastery-engine") -> dict[str, str]:
        data = self.one("Secret", name)["data"]
        return {key: base64.b64decode(value).decode() for key, value in data.items()}


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def container_of(workload: Manifest) -> Manifest:
    containers: list[Manifest] = pod_spec(workload)["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(workload: Manifest) -> dict[str, Manifest]:
    return {each["name"]: each for each in container_of(workload).get("env", [])}


def with_values(name: str, **changes: Any) -> Manifest:
    """A copy of a value set with dotted keys changed: ``with_values("default", **{"a.b": 1})``."""
    values = copy.deepcopy(VALUE_SETS[name])
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return values


@pytest.fixture(scope="session")
def renders() -> dict[str, Render]:
    return {name: Render(values) for name, values in VALUE_SETS.items()}


@pytest.fixture(params=sorted(VALUE_SETS))
def each_render(request: pytest.FixtureRequest, renders: dict[str, Render]) -> Render:
    return renders[request.param]
