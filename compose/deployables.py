"""What Switchboard deploys, described once: each service's queues, secrets and processes.

`compose/render.py` turns it into the compose files, `compose/k8s/render.py` into Kubernetes
manifests; tests/deploy runs each process natively.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard_gateway.standalone.children import FLOWER_PORTS as STANDALONE_FLOWER_PORTS


@dataclass(frozen=True)
class Deployable:
    name: str
    queues: tuple[str, ...]
    critical: str | None = None  # a queue with a dedicated worker
    secrets: tuple[str, ...] = ()  # env vars the service needs from the env file

    @property
    def module(self) -> str:
        return f"switchboard_{self.name}.app"

    @property
    def prefix(self) -> str:
        return f"{self.name.upper()}_"

    @property
    def dockerfile(self) -> str:
        return (
            "gateway/Dockerfile" if self.name == "gateway" else f"services/{self.name}/Dockerfile"
        )

    @property
    def source(self) -> str:
        return "gateway" if self.name == "gateway" else f"services/{self.name}"

    @property
    def image(self) -> str:
        return (
            f"${{SWITCHBOARD_REGISTRY:-switchboard}}/{self.name}:${{SWITCHBOARD_VERSION:-latest}}"
        )


DEPLOYABLES = (
    Deployable(
        "email",
        ("email.urgent", "email.normal", "email.bulk", "email.events"),
        secrets=(
            "EMAIL_SMTP_HOST",
            "EMAIL_SMTP_PORT",
            "EMAIL_SMTP_USERNAME",
            "EMAIL_SMTP_PASSWORD",
            "EMAIL_SMTP_STARTTLS",
            "EMAIL_SENDER",
        ),
    ),
    Deployable(
        "payments",
        ("payments.normal", "payments.batch", "payments.events", "payments.events.batched"),
        critical="payments.critical",
        secrets=("PAYMENTS_STRIPE_API_KEY", "PAYMENTS_STRIPE_API_BASE"),
    ),
    Deployable("orders", ("orders.normal", "orders.events"), critical="orders.critical"),
    Deployable("reports", ("reports.interactive", "reports.batch", "reports.events")),
    Deployable(
        "integrations",
        (
            "integrations.normal",
            "integrations.sms",
            "integrations.webhooks",
            "integrations.sync",
            "integrations.events",
        ),
        secrets=("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "INTEGRATIONS_TWILIO_BASE_URL"),
    ),
    Deployable("gateway", ("gateway.normal", "gateway.events")),
)
GATEWAY_SECRETS = (
    "SWITCHBOARD_API_KEYS",
    "STRIPE_WEBHOOK_SECRET",
    "TWILIO_AUTH_TOKEN",
    "SWITCHBOARD_PUBLIC_URL",
)
OPTIONAL = {"EMAIL_SMTP_USERNAME", "EMAIL_SMTP_PASSWORD"}
EXAMPLES = {
    "EMAIL_SMTP_HOST": "smtp.example.com",
    "EMAIL_SMTP_PORT": "587",
    "EMAIL_SMTP_USERNAME": "",
    "EMAIL_SMTP_PASSWORD": "",
    "EMAIL_SMTP_STARTTLS": "true",
    "EMAIL_SENDER": "Switchboard <no-reply@example.com>",
    "PAYMENTS_STRIPE_API_BASE": "https://api.stripe.com",
    "TWILIO_ACCOUNT_SID": "AC…your Twilio account SID",
    "INTEGRATIONS_TWILIO_BASE_URL": "https://api.twilio.com",
    "SWITCHBOARD_PUBLIC_URL": "https://switchboard.example.com",
}
RANDOM = "a long random value: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
# Secrets: the examples leave them empty (a copied example must not run with a published
# value), with what to put there. Every process that needs one refuses to start without it.
SECRETS = {
    "PAYMENTS_STRIPE_API_KEY": "your Stripe secret key (sk_live_…), Dashboard > Developers > API keys",
    "STRIPE_WEBHOOK_SECRET": "the signing secret (whsec_…) of the Stripe endpoint for /webhooks/stripe",
    "TWILIO_AUTH_TOKEN": "your Twilio auth token, Console > Account info",
    "SWITCHBOARD_API_KEYS": f"comma-separated API keys, each {RANDOM}",
    "FLOWER_BASIC_AUTH": "user:password for every Flower, the password " + RANDOM,
    "RABBITMQ_PASSWORD": RANDOM,
    "REDIS_PASSWORD": RANDOM,
    "POSTGRES_PASSWORD": RANDOM,
}
HTTP_CHECK = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=4)"


def required_secrets(d: Deployable, role: str) -> tuple[str, ...]:
    """The secrets one process refuses to start without: a service's in every process (each
    loads the service's settings), the gateway's provider secrets in its API only, Flower's
    credentials in Flower."""
    names = GATEWAY_SECRETS if d.name == "gateway" else d.secrets
    own = () if d.name == "gateway" and role != "api" else names
    flower = ("FLOWER_BASIC_AUTH",) if role == "flower" else ()
    return tuple(n for n in (*own, *flower) if n in SECRETS)


def healthcheck(test: list[str], start: str = "30s") -> dict[str, Any]:
    return {"test": test, "interval": "15s", "timeout": "10s", "retries": 5, "start_period": start}


def python_http_check(url: str) -> dict[str, Any]:
    return healthcheck(["CMD", "python", "-c", HTTP_CHECK, url], start="20s")


def liveness_check(d: Deployable, queues: tuple[str, ...]) -> dict[str, Any]:
    """Healthy while the kit's probes (sent by beat every 15 s) keep being consumed."""
    probe = f"python -m switchboard_shared.liveness {d.name} {' '.join(queues)}"
    return healthcheck(
        ["CMD-SHELL", f'{probe} --redis "$$SWITCHBOARD_REDIS_URL" --max-age 90'], "90s"
    )


def worker(d: Deployable, queues: tuple[str, ...], label: str) -> dict[str, Any]:
    command = ["celery", "-A", d.module, "worker", "-Q", ",".join(queues)]
    command += ["-n", f"{label}@%h", "-l", "INFO"]
    return {"command": command, "healthcheck": liveness_check(d, queues), "stop_grace_period": "6m"}


def flower(d: Deployable) -> dict[str, Any]:
    """The kit's Flower (scoped to the service's workers, `/metrics` behind auth, refusing to
    start without FLOWER_BASIC_AUTH), from the service's own image: Flower is in the lock."""
    command = ["python", "-m", "switchboard_shared.flower", d.name]
    return {
        "command": [*command, "--address=0.0.0.0", "--port=5555"],
        "ports": [f"127.0.0.1:{FLOWER_PORTS[d.name]}:5555"],
        "healthcheck": python_http_check("http://127.0.0.1:5555/healthcheck"),
    }


def processes(d: Deployable) -> dict[str, dict[str, Any]]:
    """What one deployable runs: its migration job, worker(s), two beats, its Flower (+ API)."""
    main_queues = d.queues
    found: dict[str, dict[str, Any]] = {
        f"{d.name}-migrate": {
            "command": ["python", "-m", "switchboard_shared.migrate", d.name],
            "restart": "on-failure",
        },
        f"{d.name}-worker": worker(d, main_queues, d.name),
    }
    if d.critical:
        found[f"{d.name}-worker-critical"] = worker(d, (d.critical,), f"{d.name}-critical")
    found[f"{d.name}-beat"] = {
        "command": ["celery", "-A", d.module, "beat", "-l", "INFO"],
        # Two for availability: the kit's beat lock lets one send (ADR 0011).
        "deploy": {"replicas": 2},
        "healthcheck": healthcheck(
            [
                "CMD",
                "python",
                "-m",
                "switchboard_shared.beatlock",
                d.name,
            ]
        ),
    }
    found[f"{d.name}-flower"] = flower(d)
    if d.name == "gateway":
        found["gateway"] = {
            # Forwarded headers are believed only from SWITCHBOARD_FORWARDED_ALLOW_IPS.
            "command": [
                "python",
                "-m",
                "switchboard_gateway.serve",
                "--host",
                "0.0.0.0",  # noqa: S104  (inside its container)
                "--port",
                "8000",
            ],
            "ports": ["${SWITCHBOARD_GATEWAY_PORT:-8000}:8000"],
            "healthcheck": python_http_check("http://127.0.0.1:8000/api/v1/health"),
        }
    return found


# The services' Flower ports are `make run --flower`'s; the gateway worker's comes next.
FLOWER_PORTS = {**STANDALONE_FLOWER_PORTS, "gateway": 5556}
