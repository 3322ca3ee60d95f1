"""What the launcher runs: local stand-ins for the providers, the workers, Flower, the gateway."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

# Re-exported for compose/deployables.py; the kit owns the ports.
from switchboard_shared.flower.plan import FLOWER_PORTS as FLOWER_PORTS

from switchboard_gateway.standalone.local_secrets import STRIPE as STRIPE_SECRETS
from switchboard_gateway.standalone.local_secrets import TWILIO as TWILIO_SECRETS
from switchboard_gateway.standalone.local_secrets import local_secrets
from switchboard_gateway.standalone.processes import Child

SERVICES = ("orders", "payments", "email", "reports", "integrations")
MAILDIR_FOLDERS = ("tmp", "new", "cur")
# Every Celery worker it runs: the five services, and the gateway's own event-log worker.
WORKER_APPS = {
    **{s: f"switchboard_{s}.app" for s in SERVICES},
    "gateway-worker": "switchboard_gateway.app",
}
LEDGER = "ledger"
LOCAL_TWILIO_MODULE = "switchboard_integrations.localtwilio"
LOCAL_TWILIO_SID = "AC00000000000000000000000000000000"


@dataclass(frozen=True)
class LocalProviders:
    """Ports of the local stand-ins this run starts; None where a real one is configured."""

    stripe: int | None
    smtp: int | None
    twilio: int | None

    @classmethod
    def none(cls) -> LocalProviders:
        return cls(None, None, None)


def _port(env: dict[str, str], name: str, default: int) -> int:
    return int(env.get(name) or default)


def _use_local_secrets(env: dict[str, str], data_dir: Path, wanted: dict[str, str]) -> None:
    """The stand-ins and the services they serve get one set of secrets: the caller's, else
    the data folder's own random ones."""
    for name, value in local_secrets(data_dir, wanted).items():
        if not env.get(name):
            env[name] = value


def local_providers(env: dict[str, str], data_dir: Path) -> LocalProviders:
    """Point the services at localstripe, an SMTP sink and the local Twilio API unless `env`
    configures real ones (it is updated in place). A real provider's secrets are the
    caller's to set: without them the services refuse to start."""
    stripe = smtp = twilio = None
    if "PAYMENTS_STRIPE_API_BASE" not in env:
        stripe = _port(env, "SWITCHBOARD_LOCALSTRIPE_PORT", 8420)
        env["PAYMENTS_STRIPE_API_BASE"] = f"http://127.0.0.1:{stripe}"
        _use_local_secrets(env, data_dir, STRIPE_SECRETS)
    if "EMAIL_SMTP_HOST" not in env:
        smtp = _port(env, "SWITCHBOARD_SMTP_SINK_PORT", 8025)
        env["EMAIL_SMTP_HOST"], env["EMAIL_SMTP_PORT"] = "127.0.0.1", str(smtp)
    if "INTEGRATIONS_TWILIO_BASE_URL" not in env:
        twilio = _port(env, "SWITCHBOARD_LOCAL_TWILIO_PORT", 8430)
        env["INTEGRATIONS_TWILIO_BASE_URL"] = f"http://127.0.0.1:{twilio}"
        env.setdefault("TWILIO_ACCOUNT_SID", LOCAL_TWILIO_SID)
        _use_local_secrets(env, data_dir, TWILIO_SECRETS)
    return LocalProviders(stripe=stripe, smtp=smtp, twilio=twilio)


def provider_children(providers: LocalProviders, data_dir: Path) -> list[Child]:
    python, logs = sys.executable, data_dir / "logs"
    children = []
    if providers.stripe is not None:
        command = [python, "-m", "switchboard_gateway.localstripe_server"]
        command += ["--port", str(providers.stripe)]
        command += ["--state-file", str(data_dir / "localstripe.pickle")]
        children.append(Child("localstripe", command, logs / "localstripe.log"))
    if providers.smtp is not None:
        mail = data_dir / "mail"
        # A Maildir: aiosmtpd's Mailbox handler builds its folders only when `mail` is absent,
        # so a bare directory made it refuse every message (and the email service suppressed
        # every address as bounced).
        for folder in MAILDIR_FOLDERS:
            (mail / folder).mkdir(parents=True, exist_ok=True)
        command = [python, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{providers.smtp}"]
        command += ["-c", "aiosmtpd.handlers.Mailbox", str(mail)]
        children.append(Child("smtp-sink", command, logs / "smtp-sink.log"))
    if providers.twilio is not None:
        command = [python, "-m", LOCAL_TWILIO_MODULE, "--host", "127.0.0.1"]
        command += ["--port", str(providers.twilio)]
        children.append(Child("local-twilio", command, logs / "local-twilio.log"))
    return children


def worker_children(data_dir: Path) -> list[Child]:
    """One worker per service with its beat embedded (`-B`; the kit's beat lock makes a second
    instance of the same service safe)."""
    python, logs = sys.executable, data_dir / "logs"
    return [
        Child(
            name,
            [
                python,
                "-m",
                "celery",
                "-A",
                module,
                "worker",
                "-B",
                "-n",
                f"{name}@%h",
                "-l",
                "INFO",
            ],
            logs / f"{name}.log",
        )
        for name, module in WORKER_APPS.items()
    ]


def ledger_child(data_dir: Path) -> Child:
    """`switchboard-ledger` (ADR 0014): task events into the gateway's task ledger."""
    command = [sys.executable, "-m", "switchboard_gateway.ledger.consumer"]
    return Child(LEDGER, command, data_dir / "logs" / f"{LEDGER}.log")


def flower_children(data_dir: Path) -> list[Child]:
    """The kit's per-service Flower, loopback only and without auth (`--standalone`)."""
    python, logs = sys.executable, data_dir / "logs"
    return [
        Child(
            f"flower-{service}",
            [python, "-m", "switchboard_shared.flower", service, "--standalone"],
            logs / f"flower-{service}.log",
        )
        for service in SERVICES
    ]


def gateway_child(data_dir: Path, host: str, port: int) -> Child:
    command = [sys.executable, "-m", "switchboard_gateway.serve"]
    command += ["--host", host, "--port", str(port)]
    return Child("gateway-api", command, data_dir / "logs" / "gateway.log")
