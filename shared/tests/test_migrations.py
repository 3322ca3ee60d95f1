"""Alembic migrations: kit branch + one branch per service, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, String, inspect, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from switchboard_shared.db import NAMING_CONVENTION, KitBase, create_all, create_db_engine
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.migrate import (
    alembic_config,
    load_definition,
    revision,
    service_versions_dir,
    upgrade,
)
from switchboard_shared.runtime import ServiceDefinition, ServiceRuntime
from switchboard_shared.settings import PlatformSettings, ServiceSettings
from switchboard_shared.testsupport import provider_secrets

SERVICES = ["orders", "payments", "email", "reports", "integrations"]
KIT_TABLES = {"outbox", "inbox", "dead_letters", "delivery_counts"}


@pytest.fixture(autouse=True)
def service_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service's definition loads its settings, and a secret has no default: each test gives
    them (its subprocesses inherit them)."""
    for name, value in provider_secrets().items():
        monkeypatch.setenv(name, value)


def schema_diff(url: str, *metadatas: MetaData) -> list[object]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, [KitBase.metadata, *metadatas]))  # type: ignore[arg-type]
    finally:
        engine.dispose()


def heads_in_db(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def expected_heads(service: str) -> set[str]:
    config = alembic_config(versions_dir=service_versions_dir(service))
    return set(ScriptDirectory.from_config(config).get_heads())


def migrate(url: str, service: str) -> None:
    definition = load_definition(service)
    upgrade(url, service, definition.metadata, service_versions_dir(service))


@pytest.mark.parametrize("service", SERVICES)
def test_fresh_database_matches_the_models_and_a_second_upgrade_is_a_no_op(
    database_url: str, service: str
) -> None:
    metadata = load_definition(service).metadata
    assert metadata is not None
    migrate(database_url, service)

    assert schema_diff(database_url, metadata) == []
    heads = heads_in_db(database_url)
    assert heads == expected_heads(service)
    assert "kit_0001" in heads and any(h.startswith(f"{service}_") for h in heads)

    migrate(database_url, service)  # again: nothing to do, nothing breaks
    assert heads_in_db(database_url) == heads
    assert schema_diff(database_url, metadata) == []


def test_json_columns_are_jsonb_on_postgresql_and_json_on_sqlite(database_url: str) -> None:
    migrate(database_url, "orders")
    engine = create_db_engine(database_url)
    try:
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("outbox")}
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO outbox (id, event_type, routing_key, envelope, created_at, attempts)"
                    " VALUES ('1', 't', 'r', :env, CURRENT_TIMESTAMP, 0)"
                ),
                {"env": '{"a": [1, 2]}'},
            )
    finally:
        engine.dispose()
    expected = "JSONB" if engine.dialect.name == "postgresql" else "JSON"
    assert type(columns["envelope"]).__name__ == expected


def test_migration_files_render_jsonb_variant_importably() -> None:
    kit_versions = Path(alembic_config().get_main_option("script_location") or "") / "versions"
    source = next(kit_versions.glob("kit_0001_*.py")).read_text()
    assert 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")' in source
    assert "from sqlalchemy.dialects import postgresql" in source
    assert "Text()" not in source.replace("sa.Text()", "")


def test_cli_upgrades_the_named_database(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(tmp_path / "var")}
    command = [sys.executable, "-m", "switchboard_shared.migrate", "payments"]
    result = subprocess.run(
        [*command, "--database-url", database_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "payments: database at heads" in result.stdout
    assert heads_in_db(database_url) == expected_heads("payments")
    assert schema_diff(database_url, load_definition("payments").metadata) == []  # type: ignore[arg-type]


def test_concurrent_upgrades_of_a_fresh_database_both_succeed(database_url: str) -> None:
    metadata = load_definition("integrations").metadata
    versions = service_versions_dir("integrations")
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            upgrade(database_url, "integrations", metadata, versions)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert heads_in_db(database_url) == expected_heads("integrations")
    assert schema_diff(database_url, metadata) == []  # type: ignore[arg-type]


def test_concurrent_upgrades_from_separate_processes(database_url: str) -> None:
    command = [sys.executable, "-m", "switchboard_shared.migrate", "email"]
    command += ["--database-url", database_url]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    assert heads_in_db(database_url) == expected_heads("email")


def test_a_database_made_by_create_all_is_adopted(database_url: str) -> None:
    metadata = load_definition("reports").metadata
    assert metadata is not None
    engine = create_db_engine(database_url)
    create_all(engine, metadata)
    engine.dispose()

    migrate(database_url, "reports")
    assert heads_in_db(database_url) == expected_heads("reports")
    assert schema_diff(database_url, metadata) == []


def test_a_drifted_unversioned_database_is_refused(database_url: str) -> None:
    engine = create_db_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE outbox (id VARCHAR(64) PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="no Alembic version"):
        migrate(database_url, "reports")


class ProbeBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ProbeRow(ProbeBase):
    __tablename__ = "probe_rows"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)


def runtime(name: str, url: str, metadata: MetaData | None) -> ServiceRuntime:
    definition = ServiceDefinition(
        name=name,
        command_queues=[f"{name}.normal"],
        registry=HandlerRegistry(),
        settings=ServiceSettings(database_url=url),
        metadata=metadata,
        platform=PlatformSettings(),
    )
    return ServiceRuntime(definition, app=None)  # type: ignore[arg-type]  # no Celery needed


def test_runtime_create_schema_runs_the_service_migrations(database_url: str) -> None:
    metadata = load_definition("orders").metadata
    rt = runtime("orders", database_url, metadata)
    rt.create_schema()
    rt.create_schema()
    rt.engine.dispose()
    assert heads_in_db(database_url) == expected_heads("orders")
    assert schema_diff(database_url, metadata) == []  # type: ignore[arg-type]


def test_runtime_falls_back_to_create_all_without_migrations(database_url: str) -> None:
    rt = runtime("probe_nomigrations", database_url, ProbeBase.metadata)
    rt.create_schema()
    rt.create_schema()
    rt.engine.dispose()
    assert heads_in_db(database_url) == {"kit_0001"}
    assert schema_diff(database_url, ProbeBase.metadata) == []


def test_revision_autogenerates_on_the_service_branch(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    first = revision("probe", "probe tables", metadata=ProbeBase.metadata, versions_dir=versions)
    assert first.name.startswith("probe_0001_")
    source = first.read_text()
    assert "branch_labels" in source and "('probe',)" in source.replace('"', "'")
    assert 'op.create_table(\n        "probe_rows"' in source
    assert "outbox" not in source  # the kit's tables are the kit branch's business

    second = revision("probe", "nothing yet", metadata=ProbeBase.metadata, versions_dir=versions)
    assert second.name.startswith("probe_0002_")
    assert "down_revision: str | Sequence[str] | None = 'probe_0001'" in second.read_text().replace(
        '"', "'"
    )
