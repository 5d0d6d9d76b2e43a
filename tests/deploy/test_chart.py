"""The Helm chart as an operator relies on it: rendered offline for each value set in its ``ci/``
folder (and variations), asserting what a release does in a cluster."""

from __future__ import annotations

import json
import re

import helm_python
import pytest

from infrastructure.settings import Settings
from tests.deploy.conftest import (
    VALUE_SETS,
    Render,
    container_of,
    env_of,
    pod_spec,
    with_values,
)

SECRET_VARIABLES = {
    "MASTERY_DATABASE_URL",
    "MASTERY_REDIS_URL",
    "MASTERY_JWT_SECRET",
    "MASTERY_JWT_PUBLIC_KEY",
    "MASTERY_MASTER_KEY",
    "MASTERY_PREVIOUS_MASTER_KEYS",
    "MASTERY_KAFKA_CONFIG",
}
HOOK = "helm.sh/hook"


def ready_command(container: dict[str, object], probe: str) -> list[str]:
    return container[probe]["exec"]["command"]  # type: ignore[index,no-any-return]


# --- the migration -------------------------------------------------------------------------------


@pytest.mark.parametrize("upgrade", [False, True], ids=["install", "upgrade"])
def test_the_schema_is_migrated_before_install_and_before_every_upgrade(upgrade: bool) -> None:
    release = Render(VALUE_SETS["default"], upgrade=upgrade)
    job = release.one("Job", "mastery-engine-migrate")
    assert job["metadata"]["annotations"][HOOK] == "pre-install,pre-upgrade"
    assert container_of(job)["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    # Hook objects are created in weight order: the Job's account and Secret exist before it.
    hooks = [each for each in release.objects if HOOK in each["metadata"].get("annotations", {})]
    weights = {
        each["kind"]: int(each["metadata"]["annotations"]["helm.sh/hook-weight"]) for each in hooks
    }
    assert weights["ServiceAccount"] < weights["Secret"] < weights["Job"]
    assert pod_spec(job)["serviceAccountName"] == "mastery-engine-migrate"
    url = env_of(job)["MASTERY_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert url["name"] == "mastery-engine-migrate"
    assert release.secret_data("mastery-engine-migrate") == {
        "database-url": VALUE_SETS["default"]["secrets"]["databaseUrl"]
    }


def test_the_migration_gets_nothing_but_the_database(renders: dict[str, Render]) -> None:
    release = renders["cluster-sasl"]
    job = release.one("Job", "mastery-engine-migrate")
    extra = {each["name"] for each in release.values["extraEnv"]}
    assert set(env_of(job)) == {"MASTERY_DATABASE_URL", *extra}


# --- every container -----------------------------------------------------------------------------


def test_every_container_has_requests_and_limits(each_render: Render) -> None:
    for name, container in each_render.containers():
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert set(resources[kind]) == {"cpu", "memory"}, (name, kind)


def test_every_container_runs_locked_down_with_a_writable_tmp_only(each_render: Render) -> None:
    for workload in each_render.workloads():
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] >= 10000, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        container = container_of(workload)
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["privileged"] is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        mounts = {each["mountPath"]: each["name"] for each in container["volumeMounts"]}
        volumes = {each["name"]: each for each in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name


def test_no_secret_is_a_literal_outside_a_secret(each_render: Render) -> None:
    """Secret variables come by secretKeyRef, and no secret value from the values appears in
    any object but a Secret (where it is base64 data)."""
    secrets = each_render.values.get("secrets", {})
    kafka = each_render.values.get("kafka", {})
    plain = [
        line.strip()
        for value in [*secrets.values(), kafka.get("saslPassword", "")]
        if isinstance(value, str) and value != secrets.get("existingSecret")
        for line in value.splitlines()
        if len(line.strip()) > 8 and not line.startswith("-----")
    ]
    assert plain or secrets.get("existingSecret")
    for workload in each_render.workloads():
        for name, variable in env_of(workload).items():
            if name in SECRET_VARIABLES:
                assert "value" not in variable, (workload["metadata"]["name"], name)
                assert "secretKeyRef" in variable["valueFrom"]
    for each in each_render.objects:
        if each["kind"] != "Secret":
            text = json.dumps(each)
            assert not [value for value in plain if value in text], each["kind"]


def test_each_role_gets_only_the_connections_it_uses(renders: dict[str, Render]) -> None:
    release = renders["default"]
    api, consumer = release.deployment("api"), release.deployment("consumer")
    projector, publisher = release.deployment("projector"), release.deployment("publisher")
    for workload in (api, consumer, projector, publisher):
        assert {"MASTERY_DATABASE_URL", "MASTERY_MASTER_KEY"} <= set(env_of(workload))
    assert "MASTERY_REDIS_URL" in env_of(api)
    assert "MASTERY_REDIS_URL" in env_of(projector)
    assert "MASTERY_JWT_SECRET" in env_of(api)
    assert "MASTERY_KAFKA_BOOTSTRAP_SERVERS" not in env_of(projector)
    for worker in (consumer, projector, publisher):
        assert "MASTERY_JWT_SECRET" not in env_of(worker)
    for kafka_worker in (consumer, publisher):
        assert "MASTERY_REDIS_URL" not in env_of(kafka_worker)
        assert "MASTERY_KAFKA_CONFIG" in env_of(kafka_worker)


# --- the roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["projector", "publisher"])
def test_projector_and_publisher_run_two_replicas_probed_by_the_ready_command(
    each_render: Render, role: str
) -> None:
    deployment = each_render.deployment(role)
    assert deployment["spec"]["replicas"] == 2
    container = container_of(deployment)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert ready_command(container, probe) == ["mastery", "ready", role]
    budget = each_render.one("PodDisruptionBudget", f"mastery-engine-{role}")
    assert budget["spec"]["minAvailable"] == 1


def test_the_consumer_runs_its_workers_and_is_probed(renders: dict[str, Render]) -> None:
    consumer = renders["cluster-sasl"].deployment("consumer")
    assert consumer["spec"]["replicas"] == 3
    container = container_of(consumer)
    assert container["args"] == ["consume", "--workers", "4"]
    assert ready_command(container, "readinessProbe") == ["mastery", "ready", "consumer"]


def test_more_consumers_than_partitions_is_refused() -> None:
    values = with_values("default", **{"consumer.replicas": 4, "consumer.workers": 2})
    with pytest.raises(helm_python.HelmError, match=r"exceeds kafka.topics.partitions \(6\)"):
        Render(values)


def test_the_api_serves_on_its_port_with_http_probes(each_render: Render) -> None:
    api = each_render.deployment("api")
    container = container_of(api)
    assert container["args"][0] == "serve"
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert env_of(api)["MASTERY_HTTP_HOST"]["value"] == "0.0.0.0"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = each_render.one("Service", "mastery-engine-api")
    assert service["spec"]["selector"].items() <= pod_labels(api).items()


def test_the_api_scales_on_cpu_unless_the_hpa_is_off(renders: dict[str, Render]) -> None:
    scaled = renders["default"]
    assert "replicas" not in scaled.deployment("api")["spec"]
    hpa = scaled.one("HorizontalPodAutoscaler", "mastery-engine-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "mastery-engine-api"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    fixed = renders["no-hpa"]
    assert fixed.all("HorizontalPodAutoscaler") == []
    assert fixed.deployment("api")["spec"]["replicas"] == 3


def test_selectors_and_budgets_match_their_pods(each_render: Render) -> None:
    for deployment in each_render.all("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels(deployment).items()
        component = selector["app.kubernetes.io/component"]
        budget = each_render.one("PodDisruptionBudget", f"mastery-engine-{component}")
        assert budget["spec"]["selector"]["matchLabels"] == selector


def pod_labels(deployment: dict[str, object]) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]  # type: ignore[index,no-any-return]


# --- configuration reaching the product ----------------------------------------------------------


def test_redis_cluster_and_kafka_sasl_reach_the_settings(renders: dict[str, Render]) -> None:
    release = renders["cluster-sasl"]
    for role in ("api", "projector"):
        assert env_of(release.deployment(role))["MASTERY_REDIS_CLUSTER"]["value"] == "true"
    for role in ("api", "consumer", "publisher"):
        reference = env_of(release.deployment(role))["MASTERY_KAFKA_CONFIG"]["valueFrom"]
        assert reference["secretKeyRef"] == {
            "name": "mastery-engine",
            "key": "kafka-config",
            "optional": True,
        }
    secret = release.secret_data()
    settings = Settings.from_env(
        {
            "MASTERY_KAFKA_BOOTSTRAP_SERVERS": release.values["kafka"]["bootstrapServers"],
            "MASTERY_KAFKA_CONFIG": secret["kafka-config"],
        }
    )
    assert settings.kafka_config.as_dict() == {
        **release.values["kafka"]["config"],
        "sasl.password": release.values["kafka"]["saslPassword"],
    }
    assert "MASTERY_REDIS_CLUSTER" not in env_of(renders["default"].deployment("api"))


def test_kafka_certificates_are_mounted_where_kafka_is_used(renders: dict[str, Render]) -> None:
    release = renders["cluster-sasl"]
    for role, mounted in [
        ("api", True),
        ("consumer", True),
        ("publisher", True),
        ("projector", False),
    ]:
        mounts = {
            each["mountPath"] for each in container_of(release.deployment(role))["volumeMounts"]
        }
        assert ("/etc/mastery/kafka" in mounts) is mounted, role


def test_a_password_in_the_plain_kafka_config_is_refused() -> None:
    values = with_values("default", **{"kafka.config": {"sasl.password": "x"}})
    with pytest.raises(helm_python.HelmError, match=r"kafka\.saslPassword"):
        Render(values)


def test_plain_settings_reach_every_role(renders: dict[str, Render]) -> None:
    release = renders["no-hpa"]
    for deployment in release.all("Deployment"):
        env = env_of(deployment)
        assert env["MASTERY_DB_POOL_SIZE"]["value"] == "8"
        assert env["MASTERY_SNAPSHOT_TTL_DAYS"]["value"] == "30"
    assert "MASTERY_KAFKA_BOOTSTRAP_SERVERS" not in env_of(release.deployment("api"))


# --- secrets -------------------------------------------------------------------------------------


def test_an_existing_secret_replaces_the_charts_own(renders: dict[str, Render]) -> None:
    release = renders["existing-secret"]
    assert release.all("Secret") == []
    for workload in release.workloads():
        for variable in env_of(workload).values():
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["name"] == "mastery-credentials"
    for workload in release.workloads():
        container = container_of(workload)
        assert container["image"].endswith("@" + release.values["image"]["digest"])
        assert container["imagePullPolicy"] == "IfNotPresent"
    assert pod_spec(release.deployment("api"))["serviceAccountName"] == "mastery"


def test_a_tag_is_always_pulled(renders: dict[str, Render]) -> None:
    container = container_of(renders["default"].deployment("api"))
    assert container["image"] == "mastery-engine:0.1.0"
    assert container["imagePullPolicy"] == "Always"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("databaseUrl", "secrets.databaseUrl is required"),
        ("redisUrl", "secrets.redisUrl is required"),
        ("jwtSecret", "secrets.jwtSecret or secrets.jwtPublicKey is required"),
        ("masterKey", "secrets.masterKey is required"),
    ],
)
def test_a_release_without_a_required_secret_is_refused(missing: str, message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=re.escape(message)):
        Render(with_values("default", **{f"secrets.{missing}": ""}))


def test_a_release_without_kafka_is_refused_while_its_workers_run() -> None:
    with pytest.raises(helm_python.HelmError, match=r"kafka\.bootstrapServers is required"):
        Render(with_values("default", **{"kafka.bootstrapServers": ""}))
    quiet = Render(
        with_values(
            "default",
            **{
                "kafka.bootstrapServers": "",
                "consumer.enabled": False,
                "publisher.enabled": False,
                "api.kafkaStatus": False,
            },
        )
    )
    assert {each["metadata"]["name"] for each in quiet.all("Deployment")} == {
        "mastery-engine-api",
        "mastery-engine-projector",
    }


# --- the network ---------------------------------------------------------------------------------


def test_only_the_api_accepts_connections(each_render: Render) -> None:
    policies = each_render.all("NetworkPolicy")
    release_wide = each_render.one("NetworkPolicy", "mastery-engine")
    assert release_wide["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert release_wide["spec"]["ingress"] == []
    opening = [each for each in policies if each["spec"].get("ingress")]
    assert [each["metadata"]["name"] for each in opening] == ["mastery-engine-api"]
    selector = opening[0]["spec"]["podSelector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == "api"
    assert opening[0]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]


def test_egress_is_dns_and_the_three_services_only(renders: dict[str, Render]) -> None:
    egress = renders["default"].one("NetworkPolicy", "mastery-engine")["spec"]["egress"]
    ports = {(port["protocol"], port["port"]) for rule in egress for port in rule["ports"]}
    assert ports == {
        ("UDP", 53),
        ("TCP", 53),
        ("TCP", 5432),
        ("TCP", 6379),
        ("TCP", 9092),
        ("TCP", 9093),
    }
    restricted = renders["cluster-sasl"].one("NetworkPolicy", "mastery-engine")["spec"]["egress"]
    kafka = [rule for rule in restricted if {"protocol": "TCP", "port": 9096} in rule["ports"]]
    assert kafka[0]["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]


def test_the_api_can_be_opened_to_one_namespace_only(renders: dict[str, Render]) -> None:
    api_policy = renders["no-hpa"].one("NetworkPolicy", "mastery-engine-api")
    sources = api_policy["spec"]["ingress"][0]["from"]
    assert sources == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]


# --- the values' schema --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"secret.databaseUrl": "postgresql://db/x"}, "additional properties 'secret' not allowed"),
        ({"consumer.replicas": "two"}, "at '/consumer/replicas': got string, want integer"),
        ({"config.DB_POOL_SIZE": 8}, "'DB_POOL_SIZE' does not match pattern"),
        ({"kafka.config": {"ssl.ca.location": ["/a", "/b"]}}, "at '/kafka/config/ssl.ca.location'"),
        ({"api.resources.limits": None}, "missing property 'limits'"),
    ],
)
def test_values_a_release_cannot_use_are_refused_by_name(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=re.escape(message)):
        Render(with_values("default", **changes))


def test_a_malformed_master_key_is_refused_without_quoting_it() -> None:
    key = "bm90LWEtMzItYnl0ZS1rZXk="
    with pytest.raises(helm_python.HelmError, match="must be base64 of 32 bytes") as raised:
        Render(with_values("default", **{"secrets.masterKey": key}))
    assert key not in str(raised.value)


@pytest.mark.parametrize("role", ["api", "consumer", "projector", "publisher"])
def test_a_roles_pods_prefer_different_nodes_unless_told_otherwise(
    renders: dict[str, Render], role: str
) -> None:
    spec = pod_spec(renders["default"].deployment(role))
    (preferred,) = spec["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    term = preferred["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == role
    pool = {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["mastery"]}]}
    zone = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [pool]}
        }
    }
    told = Render(with_values("default", **{f"{role}.affinity": zone}))
    assert pod_spec(told.deployment(role))["affinity"] == zone


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"secrets.masterKey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
            "secrets.masterKey",
        ),
        ({"kafka.saslPassword": "pw"}, "kafka.saslPassword"),
        ({"kafka.config": {"security.protocol": "SSL"}}, "kafka-config key"),
    ],
)
def test_a_value_the_existing_secret_would_shadow_is_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(helm_python.HelmError, match=re.escape(message)):
        Render(with_values("existing-secret", **changes))


def test_postgresql_tls_settings_and_ca_reach_every_pod(renders: dict[str, Render]) -> None:
    """libpq's own variables: the event store connects with the URL's parts only."""
    release = renders["cluster-sasl"]
    for workload in release.workloads():
        env = env_of(workload)
        assert env["PGSSLMODE"]["value"] == "verify-full", workload["metadata"]["name"]
        mounts = {each["mountPath"] for each in container_of(workload)["volumeMounts"]}
        assert "/etc/mastery/postgres" in mounts
        volumes = {each["name"] for each in pod_spec(workload)["volumes"]}
        assert "postgres-ca" in volumes
