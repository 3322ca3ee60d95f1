"""The launcher: prepares the environment, starts every child, supervises, stops them all."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from switchboard_gateway.standalone import children as plan
from switchboard_gateway.standalone import startup
from switchboard_gateway.standalone.banner import Banner
from switchboard_gateway.standalone.processes import Child, ChildDied, stop_groups
from switchboard_gateway.standalone.redis_server import EmbeddedRedis
from switchboard_gateway.standalone.runfile import RunFile
from switchboard_gateway.standalone.say import say


@dataclass
class Launcher:
    data_dir: Path
    host: str
    port: int
    flower: bool
    env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    redis: EmbeddedRedis | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    api_key: str = ""
    broker_url: str = ""
    providers: plan.LocalProviders = field(default_factory=plan.LocalProviders.none)

    def __post_init__(self) -> None:
        self.run_file = RunFile.in_data_dir(self.data_dir)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def prepare(self) -> None:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.run_file.clear_previous()
        startup.require_free_port(self.host, self.port)
        env = dict(os.environ)
        env["SWITCHBOARD_DATA_DIR"] = str(self.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("SWITCHBOARD_PUBLIC_URL", self.base_url)
        self.api_key = startup.api_key(env, self.data_dir)
        broker = env.get("SWITCHBOARD_BROKER_URL", "").strip()
        if not broker:
            self.redis = EmbeddedRedis(self.data_dir / "redis.db")
            broker = self.redis.start()
            env["SWITCHBOARD_BROKER_URL"] = broker
            say(f"embedded Redis (pid {self.redis.pid}) on {broker}")
        self.broker_url = broker
        self.providers = plan.local_providers(env, self.data_dir)
        self.env = env

    def build_children(self) -> None:
        self.children = [
            *plan.provider_children(self.providers, self.data_dir),
            *plan.worker_children(self.data_dir),
            plan.ledger_child(self.data_dir),
            *(plan.flower_children(self.data_dir) if self.flower else []),
            plan.gateway_child(self.data_dir, self.host, self.port),
        ]

    def start_children(self) -> None:
        for child in self.children:
            if self.stop_requested.is_set():
                return
            child.start(self.env)
            self.run_file.write(self._state())

    def _state(self) -> dict[str, object]:
        return {
            "children": {c.name: c.pid for c in self.children if c.process is not None},
            "redis_pid": self.redis.pid if self.redis else None,
            "broker_url": self.broker_url,
            "api_url": self.base_url,
        }

    def wait_until_ready(self) -> bool:
        workers = [c for c in self.children if c.name in plan.WORKER_APPS]
        ready = startup.wait_until_ready(
            workers, self.base_url, self.api_key, self.check_children, self.stop_requested.is_set
        )
        if ready and self.providers.stripe is not None:
            secret = self.env["STRIPE_WEBHOOK_SECRET"]
            startup.register_stripe_webhook(self.providers.stripe, self.base_url, secret)
        return ready

    def check_children(self) -> None:
        for child in self.children:
            code = child.exit_code()
            if code is not None:
                raise ChildDied(child, code)

    def banner(self) -> None:
        banner = Banner(
            self.api_key, self.base_url, self.broker_url, self.data_dir, self.providers, self.flower
        )
        say("\n".join(banner.lines()))

    def supervise(self) -> None:
        while not self.stop_requested.wait(0.5):
            self.check_children()

    def shutdown(self) -> None:
        started = [c for c in self.children if c.process is not None]
        if started:
            stop_groups([c.pid for c in started])
        for child in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(1)
        if self.redis is not None:
            self.redis.stop()
        self.run_file.remove()
