"""deploy/ describes the scale-out topology correctly: compose, Kubernetes and HAProxy.

No container runs here (the machine has no container engine): Debian's
`docker-compose config` validates and resolves the compose file, HAProxy checks
its configuration, and the Kubernetes manifests are checked field by field for
what the API server and the topology require.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import yaml

from assistant.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
# What `docker-compose up` needs from the environment (README, "Scale-out").
COMPOSE_SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret", "ACTION_SERVER_TOKEN": "action-secret",
    "CONVERSATION_REFERENCE_KEY": "reference-secret", "RABBITMQ_PASSWORD": "mq-secret",
    "REDIS_PASSWORD": "redis-secret", "SESSION_SIGNING_KEY": "session-secret",
    "REVIEW_BASE_URL": "https://review.example.org", "REVIEW_PASSWORD": "review-secret",
    "REVIEW_SECRET_KEY": "cookie-secret",
}
# The keys of the `assistant-secrets` Secret that the README's command creates.
SECRET_KEYS = {
    "database-url", "postgres-password", "action-server-token", "conversation-reference-key",
    "session-signing-key", "redis-password", "rabbitmq-password", "review-password",
    "review-secret-key", "review-base-url",
}
SECRET_NAMES = re.compile(r"PASSWORD|TOKEN|SECRET|KEY|DATABASE_URL")
TOPOLOGY = {"rasa", "actions", "haproxy", "review", "review-consumer", "postgres", "redis", "rabbitmq"}


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: `make deploy-deps` installs it from Debian"
    return path


def compose_config(environment: Dict[str, str]) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **environment}
    return subprocess.run(
        [tool("docker-compose"), "--file", str(DEPLOY / "docker-compose.yml"), "config"],
        cwd=DEPLOY, env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture(scope="module")
def compose() -> Dict[str, Any]:
    result = compose_config(COMPOSE_SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_accepts_the_file_and_runs_three_rasa_replicas_and_two_action_servers(compose) -> None:
    services = compose["services"]

    assert set(services) == TOPOLOGY
    assert services["rasa"]["deploy"]["replicas"] == 3
    assert services["actions"]["deploy"]["replicas"] == 2


def test_the_replica_counts_come_from_the_environment() -> None:
    result = compose_config({**COMPOSE_SECRETS, "RASA_REPLICAS": "5", "ACTION_REPLICAS": "4"})
    services = yaml.safe_load(result.stdout)["services"]

    assert (services["rasa"]["deploy"]["replicas"], services["actions"]["deploy"]["replicas"]) == (5, 4)


def test_every_compose_service_has_a_health_check_and_reserves_cpu_and_memory(compose) -> None:
    for name, service in compose["services"].items():
        assert service["healthcheck"]["test"], name
        reservations = service["deploy"]["resources"]["reservations"]
        assert reservations["cpus"] and reservations["memory"], name


def test_compose_refuses_to_start_without_each_secret_and_keeps_none_in_the_file() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    for name, value in COMPOSE_SECRETS.items():
        assert value not in text
        result = compose_config({key: v for key, v in COMPOSE_SECRETS.items() if key != name})
        assert result.returncode != 0 and f"set {name}" in result.stderr, name


def test_rasa_replicas_use_the_cluster_endpoints_and_reach_the_actions_through_haproxy(compose) -> None:
    rasa = compose["services"]["rasa"]

    assert "deploy/cluster/endpoints.yml" in rasa["command"]
    assert rasa["environment"]["ACTION_SERVER_URL"] == "http://haproxy:5055/webhook"
    assert {"REDIS_HOST", "RABBITMQ_HOST", "DATABASE_URL"} <= set(rasa["environment"])


def test_haproxy_accepts_the_load_balancer_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [tool("haproxy"), "-c", "-f", str(DEPLOY / "haproxy.cfg")], cwd=tmp_path, capture_output=True, text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def kubernetes_objects() -> Iterator[Dict[str, Any]]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / resource).read_text()):
            if document:
                yield document


def workloads() -> List[Dict[str, Any]]:
    return [obj for obj in kubernetes_objects() if obj["kind"] in ("Deployment", "StatefulSet")]


def test_the_kustomization_lists_every_manifest_and_each_object_has_kind_version_and_name() -> None:
    listed = set(yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"])

    assert listed == {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    for obj in kubernetes_objects():
        assert obj["apiVersion"] in ("v1", "apps/v1") and obj["kind"], obj
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", obj["metadata"]["name"]), obj["metadata"]


def test_kubernetes_runs_the_same_topology_with_three_rasa_replicas_and_two_action_servers() -> None:
    by_name = {obj["metadata"]["name"]: obj for obj in workloads()}

    assert set(by_name) == TOPOLOGY
    assert by_name["rasa"]["spec"]["replicas"] == 3
    assert by_name["actions"]["spec"]["replicas"] == 2


def test_each_workload_selects_its_own_pods_and_each_container_has_probes_and_requests() -> None:
    for workload in workloads():
        spec = workload["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), workload["metadata"]["name"]
        for container in spec["template"]["spec"]["containers"]:
            assert container["name"] and container["image"]
            assert container["readinessProbe"] and container["livenessProbe"], container["name"]
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]


def test_every_service_selects_a_workload_and_targets_one_of_its_ports() -> None:
    pods = {
        workload["metadata"]["name"]: (
            workload["spec"]["template"]["metadata"]["labels"],
            {port["name"] for c in workload["spec"]["template"]["spec"]["containers"] for port in c.get("ports", [])},
        )
        for workload in workloads()
    }
    for service in (obj for obj in kubernetes_objects() if obj["kind"] == "Service"):
        matched = [ports for labels, ports in pods.values() if service["spec"]["selector"].items() <= labels.items()]
        assert len(matched) == 1, service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in matched[0], (service["metadata"]["name"], port)


def test_secrets_come_only_from_the_assistant_secrets_secret() -> None:
    for workload in workloads():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                if SECRET_NAMES.search(variable["name"]) and variable["name"] != "POSTGRES_DB":
                    reference = variable["valueFrom"]["secretKeyRef"]
                    assert reference["name"] == "assistant-secrets" and reference["key"] in SECRET_KEYS
    config = next(obj for obj in kubernetes_objects() if obj["kind"] == "ConfigMap")
    assert not any(SECRET_NAMES.search(name) for name in config["data"])


def test_the_rasa_image_is_built_from_the_project_s_pinned_packages() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    python_version = (PROJECT_ROOT / ".python-version").read_text().strip()

    assert f"FROM python:{python_version}-" in dockerfile
    assert "--no-deps -r requirements.lock" in dockerfile
