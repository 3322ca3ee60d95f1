"""Writes the Kubernetes manifests (`python compose/k8s/render.py`) from the same description
of the deployables as the compose files: per service a migration Job, one Deployment per
worker with a KEDA ScaledObject scaling it on its queues' depth, a beat Deployment of two
(the kit's beat lock lets one send) and its Flower (the kit's, basic auth required).
Configuration comes from one Secret per service, made from its env file: `kubectl -n
switchboard create secret generic switchboard-payments --from-env-file=compose/payments.env`.
The secrets a process cannot run without are also named one by one (`secretKeyRef`, not
optional): a Secret that lacks one keeps the pod from starting.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from deployables import DEPLOYABLES, Deployable, processes, required_secrets  # noqa: E402
from render import HEADER, PlainDumper  # noqa: E402

NAMESPACE = "switchboard"
QUEUE_DEPTH_PER_REPLICA = "20"  # messages waiting per worker replica before KEDA adds one
MAX_REPLICAS = {"worker": 10, "worker-critical": 6}


def labels(d: Deployable, role: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": d.name,
        "app.kubernetes.io/component": role,
        "app.kubernetes.io/part-of": "switchboard",
    }


def required_env(d: Deployable, role: str) -> list[dict[str, Any]]:
    """Keys the Secret must hold: without one the pod does not start (no default anywhere)."""
    return [
        {
            "name": name,
            "valueFrom": {
                "secretKeyRef": {"name": f"switchboard-{d.name}", "key": name, "optional": False}
            },
        }
        for name in required_secrets(d, role)
    ]


def container(d: Deployable, role: str, spec: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": role,
        "image": f"switchboard/{d.name}:latest",
        "command": spec["command"],
        "envFrom": [{"secretRef": {"name": f"switchboard-{d.name}"}}],
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": False,
        },
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }
    if required_env(d, role):
        found["env"] = required_env(d, role)
    check = spec.get("healthcheck", {}).get("test")
    if check:
        command = (
            ["sh", "-c", check[1].replace("$$", "$")] if check[0] == "CMD-SHELL" else check[1:]
        )
        found["livenessProbe"] = {
            "exec": {"command": command},
            "initialDelaySeconds": 90,
            "periodSeconds": 30,
            "timeoutSeconds": 10,
            "failureThreshold": 4,
        }
    return found


def deployment(d: Deployable, role: str, spec: dict[str, Any], replicas: int) -> dict[str, Any]:
    pod = {
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 360,
        "containers": [container(d, role, spec)],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{d.name}-{role}", "namespace": NAMESPACE, "labels": labels(d, role)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels(d, role)},
            "template": {"metadata": {"labels": labels(d, role)}, "spec": pod},
        },
    }


def migration_job(d: Deployable, spec: dict[str, Any]) -> dict[str, Any]:
    pod = {"restartPolicy": "OnFailure", "containers": [container(d, "migrate", spec)]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{d.name}-migrate",
            "namespace": NAMESPACE,
            "labels": labels(d, "migrate"),
        },
        "spec": {
            "backoffLimit": 6,
            "template": {"metadata": {"labels": labels(d, "migrate")}, "spec": pod},
        },
    }


def scaled_object(d: Deployable, role: str, queues: list[str]) -> dict[str, Any]:
    triggers = [
        {
            "type": "rabbitmq",
            "metadata": {
                "mode": "QueueLength",
                "value": QUEUE_DEPTH_PER_REPLICA,
                "queueName": queue,
                "protocol": "amqp",
            },
            "authenticationRef": {"name": "switchboard-rabbitmq"},
        }
        for queue in queues
    ]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": f"{d.name}-{role}", "namespace": NAMESPACE, "labels": labels(d, role)},
        "spec": {
            "scaleTargetRef": {"name": f"{d.name}-{role}"},
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "minReplicaCount": 1,
            "maxReplicaCount": MAX_REPLICAS[role],
            "triggers": triggers,
        },
    }


def manifests(d: Deployable) -> list[dict[str, Any]]:
    docs = []
    for name, spec in processes(d).items():
        role = name.removeprefix(f"{d.name}-") if name != d.name else "api"
        if role == "migrate":
            docs.append(migration_job(d, spec))
        elif role.startswith("worker"):
            queues = spec["command"][spec["command"].index("-Q") + 1].split(",")
            docs += [deployment(d, role, spec, 1), scaled_object(d, role, queues)]
        elif role == "beat" or role == "api":
            docs.append(deployment(d, role, spec, 2))
        elif role == "flower":  # reached with `kubectl port-forward`: no Service, no Ingress
            docs.append(deployment(d, role, spec, 1))
    return docs


def shared() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "TriggerAuthentication",
            "metadata": {"name": "switchboard-rabbitmq", "namespace": NAMESPACE},
            # secret `switchboard-rabbitmq`, key `host`: amqp://user:password@rabbitmq:5672/switchboard
            "spec": {
                "secretTargetRef": [
                    {"parameter": "host", "name": "switchboard-rabbitmq", "key": "host"}
                ]
            },
        },
    ]


def dump(docs: list[dict[str, Any]]) -> str:
    return HEADER.replace("compose/render.py", "compose/k8s/render.py") + yaml.dump_all(
        docs, Dumper=PlainDumper, sort_keys=False, width=120, explicit_start=True
    )


def rendered() -> dict[str, str]:
    files = {"00-namespace-and-auth.yaml": dump(shared())}
    files.update({f"{d.name}.yaml": dump(manifests(d)) for d in DEPLOYABLES})
    return files


def main() -> int:
    for name, text in rendered().items():
        (HERE / name).write_text(text)
        print(f"wrote compose/k8s/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
