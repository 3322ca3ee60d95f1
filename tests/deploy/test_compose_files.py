"""Every compose file is valid Compose Specification and refers only to things that exist:
images built from Dockerfiles in the repo, commands and modules this workspace installs,
queues its apps declare, environment variables its settings read, files next to it."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from compose_support import COMPOSE, INFRA, ROOT, STACK, compose_files, env_example, load, renderer
from switchboard_shared.testsupport import provider_secrets

HERE = Path(__file__).parent
DEPLOYABLES = ("email", "payments", "orders", "reports", "integrations", "gateway")
# Read by the images' own programs, not by our settings classes.
THIRD_PARTY_ENV = re.compile(
    r"^(FLOWER_BASIC_AUTH|FLOWER_BROKER_API|RABBITMQ_DEFAULT_(USER|PASS|VHOST)|REDIS_PASSWORD)$"
)


@cache
def introspected() -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, str(HERE / "introspect.py"), *DEPLOYABLES],
        env={**os.environ, **provider_secrets()},  # the services refuse to load without them
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def services_of(path: Path) -> dict[str, dict[str, Any]]:
    return dict(load(path)["services"])


def owner(name: str) -> str:
    return next(d for d in DEPLOYABLES if name == d or name.startswith(f"{d}-"))


def test_the_compose_files_are_what_render_writes() -> None:
    render = renderer()
    expected = {**render.rendered(), **render.rendered_env_examples()}
    assert {p.name for p in compose_files()} == {n for n in expected if n.endswith(".yml")}
    for name, text in expected.items():
        assert (COMPOSE / name).read_text() == text, f"compose/{name}: run python compose/render.py"
    for path, text in render.rendered_dockerfiles().items():
        assert (ROOT / path).read_text() == text, f"{path}: run python compose/render.py"


@pytest.mark.parametrize("path", compose_files(), ids=lambda p: p.name)
def test_valid_against_the_compose_specification(path: Path) -> None:
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(load(path))]
    assert errors == []


def test_the_whole_stack_has_the_production_parts() -> None:
    services = services_of(STACK)
    assert "noeviction" in services["redis"]["command"]
    assert services["rabbitmq"]["image"].endswith("-management")
    assert "init-databases.sh" in " ".join(services["postgres"]["volumes"])
    for d in DEPLOYABLES:
        assert {f"{d}-migrate", f"{d}-worker", f"{d}-beat", f"{d}-flower"} <= set(services)
        assert services[f"{d}-beat"]["deploy"]["replicas"] == 2  # safe: the beat lock
    assert {"payments-worker-critical", "orders-worker-critical", "gateway"} <= set(services)
    for name, service in services.items():
        if not name.endswith("-migrate"):
            assert "healthcheck" in service, name
        if name not in INFRA:
            assert all(service["depends_on"][i]["condition"] == "service_healthy" for i in INFRA)


@pytest.mark.parametrize("path", compose_files(), ids=lambda p: p.name)
def test_references_exist(path: Path) -> None:
    services = services_of(path)
    for name, service in services.items():
        for target in service.get("depends_on", {}):
            assert target in services, f"{name} depends on unknown {target}"
        build = service.get("build")
        if build:
            assert (COMPOSE / build["context"] / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (COMPOSE / source).is_file(), f"{name}: {source}"
        for env_file in service.get("env_file", []):
            assert (COMPOSE / f"{env_file}.example").is_file(), f"{name}: {env_file}.example"
        if name in INFRA:
            check = service["healthcheck"]["test"]
            tool = check[1] if check[0] == "CMD" else check[1].split()[0]
            assert shutil.which(tool), f"{name}: {tool} (same tool as the image's)"
        else:
            check_program(name, service)


def check_program(name: str, service: dict[str, Any]) -> None:
    """The command and health check run modules this workspace installs, with the app's queues."""
    command = service["command"]
    assert command[0] in ("celery", "python", "uvicorn"), name
    modules = [command[command.index("-A") + 1]] if "-A" in command else []
    if command[0] == "python":
        modules.append(command[2])
    if command[0] == "uvicorn":
        modules.append(command[1].split(":")[0])
    check = service.get("healthcheck", {}).get("test", [])
    modules += re.findall(r"-m (\S+)", " ".join(check))
    for module in modules:
        assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"
    if "-Q" in command:
        queues = command[command.index("-Q") + 1].split(",")
        assert set(queues) <= set(introspected()[owner(name)]["queues"]), name


def test_workers_consume_every_queue_of_their_service() -> None:
    services = services_of(STACK)
    for d in DEPLOYABLES:
        consumed = set()
        for name, service in services.items():
            command = service.get("command", [])
            if name.startswith(f"{d}-worker"):
                consumed |= set(command[command.index("-Q") + 1].split(","))
        assert consumed == set(introspected()[d]["queues"]), d


@pytest.mark.parametrize("path", compose_files(), ids=lambda p: p.name)
def test_environment_names_are_settings_we_read(path: Path) -> None:
    for name, service in services_of(path).items():
        if name in INFRA:
            continue
        names = set(service.get("environment", {}))
        for env_file in service.get("env_file", []):
            names |= set(env_example(f"{env_file}.example"))
        known = set(introspected()[owner(name)]["env"])
        unknown = {n for n in names if n not in known and not THIRD_PARTY_ENV.match(n)}
        assert unknown == set(), f"{name} sets variables nothing reads: {unknown}"


def test_every_password_the_stack_needs_is_in_the_env_example() -> None:
    example = env_example(".env.example")
    needed = set(re.findall(r"\$\{(\w+):\?", STACK.read_text()))
    assert needed <= set(example)
    init = (COMPOSE / "postgres" / "init-databases.sh").read_text()
    assert "_DB_PASSWORD" in init and all(
        f"{d.upper()}_DB_PASSWORD" in example for d in DEPLOYABLES
    )


def test_secrets_are_never_baked_into_images_or_files() -> None:
    for path in compose_files():
        for service in services_of(path).values():
            for key, value in service.get("environment", {}).items():
                if re.search(r"PASS|SECRET|KEY|AUTH", key):
                    assert str(value).startswith("${"), f"{path.name}: {key} is a literal"
    for dockerfile in dockerfiles():
        assert not re.search(
            r"^(ENV|ARG)\s+\S*(PASSWORD|SECRET|API_KEY)", dockerfile.read_text(), re.M
        )


def dockerfiles() -> list[Path]:
    return [ROOT / "gateway" / "Dockerfile"] + [
        ROOT / "services" / d / "Dockerfile" for d in DEPLOYABLES if d != "gateway"
    ]


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfiles_are_multi_stage_slim_and_non_root(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 3  # uv, build, runtime
    assert "slim" in text and "--no-dev" in text and "--frozen" in text
    final = text.rsplit("\nFROM ", 1)[1]
    user = re.findall(r"^USER (\S+)", final, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert "COPY --from=build /app/.venv /app/.venv" in final  # nothing else from the build
    package = re.search(r"--package (\S+)", text)
    assert package is not None
    copied = set(re.findall(r"^COPY (?!--from)(\S+)/ ", text, re.M))
    assert copied <= {"shared", "gateway"} | {f"services/{d}" for d in DEPLOYABLES}
    assert len(copied) == 2  # the kit and the one package
