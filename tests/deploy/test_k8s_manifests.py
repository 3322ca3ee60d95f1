"""The Kubernetes manifests under compose/k8s/: valid against the Kubernetes schemas (strict,
`kubernetes-validate`) and KEDA's (a vendored schema of its v1alpha1 CRDs), one ScaledObject
per worker Deployment scaling on exactly the queues that worker consumes, and the same
commands as the compose files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from compose_support import COMPOSE, STACK, load, script

K8S = COMPOSE / "k8s"
KEDA_SCHEMA = json.loads((Path(__file__).parent / "keda-v1alpha1.schema.json").read_text())


def manifests() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_the_manifests_are_what_render_writes() -> None:
    expected = script(K8S / "render.py", "k8s_render").rendered()
    assert {p.name for p in manifests()} == set(expected)
    for name, text in expected.items():
        assert (K8S / name).read_text() == text, f"run python compose/k8s/render.py ({name})"


@pytest.mark.parametrize("path", manifests(), ids=lambda p: p.name)
def test_every_resource_is_valid(path: Path) -> None:
    keda = jsonschema.Draft202012Validator(KEDA_SCHEMA)
    for doc in documents(path):
        if doc["apiVersion"].startswith("keda.sh/"):
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in keda.iter_errors(doc)]
            assert errors == [], doc["metadata"]["name"]
        else:
            version = kubernetes_validate.latest_version()
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_keda_schema_refuses_what_keda_would() -> None:
    keda = jsonschema.Draft202012Validator(KEDA_SCHEMA)
    scaled = next(d for d in documents(K8S / "payments.yaml") if d["kind"] == "ScaledObject")
    assert keda.is_valid(scaled)
    typo = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}}
    assert not keda.is_valid(typo)
    trigger = {
        **scaled["spec"]["triggers"][0],
        "metadata": {"queueName": "q", "mode": "Bytes", "value": "5"},
    }
    assert not keda.is_valid({**scaled, "spec": {**scaled["spec"], "triggers": [trigger]}})


@pytest.mark.parametrize(
    "path", [p for p in manifests() if not p.name.startswith("00")], ids=lambda p: p.name
)
def test_each_worker_deployment_scales_on_its_own_queues(path: Path) -> None:
    docs = documents(path)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in docs if d["kind"] == "ScaledObject"}
    workers = {name for name in deployments if "-worker" in name}
    assert workers and set(scaled) == workers
    shared = documents(K8S / "00-namespace-and-auth.yaml")
    auths = {d["metadata"]["name"] for d in shared if d["kind"] == "TriggerAuthentication"}
    compose = load(STACK)["services"]
    for name, deployment in deployments.items():
        command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command == compose[name.removesuffix("-api")]["command"], name
        if name in workers:
            queues = command[command.index("-Q") + 1].split(",")
            triggers = scaled[name]["spec"]["triggers"]
            assert sorted(t["metadata"]["queueName"] for t in triggers) == sorted(queues)
            assert {t["authenticationRef"]["name"] for t in triggers} <= auths
        if name.endswith("-beat"):
            assert deployment["spec"]["replicas"] == 2
