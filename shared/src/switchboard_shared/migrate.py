"""Alembic migrations for every service, with one environment kept in the kit.

- The kit's tables (outbox, inbox, dead_letters, delivery_counts) are the branch `kit`, in
  `switchboard_shared/migrations/versions`.
- Each service's tables are a branch named after the service, in
  `switchboard_<service>/migrations/versions`.
- `upgrade` applies both heads in one transaction, under a lock, so several workers of one
  service can start together: PostgreSQL takes `pg_advisory_xact_lock`; SQLite takes the write
  lock at `BEGIN IMMEDIATE` (the kit's engine), and the others wait on its busy timeout.

Commands:

    python -m switchboard_shared.migrate orders                      # upgrade its database
    python -m switchboard_shared.migrate orders --database-url URL   # ... another database
    python -m switchboard_shared.migrate orders --revision "add orders.note"  # autogenerate
    python -m switchboard_shared.migrate kit --revision "..."        # a kit table changed
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, inspect, text

from . import records  # noqa: F401  (registers the kit's tables on KitBase.metadata)
from .db import KitBase, create_db_engine, normalise_url

if TYPE_CHECKING:
    from .runtime import ServiceDefinition

log = logging.getLogger(__name__)

KIT = "kit"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
KIT_VERSIONS_DIR = MIGRATIONS_DIR / "versions"
VERSION_TABLE = "alembic_version"
# One key for every service: a database is meant for one service, and if two ever share one
# their migrations still take turns.
LOCK_KEY = int.from_bytes(
    hashlib.blake2b(b"switchboard.migrate", digest_size=8).digest(), "big", signed=True
)


def service_versions_dir(service: str) -> Path | None:
    """`switchboard_<service>/migrations/versions`, or None (no such package or no migrations)."""
    try:
        spec = importlib.util.find_spec(f"switchboard_{service}")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "migrations" / "versions"
    return path if path.is_dir() else None


def target_metadata(metadata: MetaData | None) -> list[MetaData]:
    return [KitBase.metadata] + ([metadata] if metadata is not None else [])


def alembic_config(
    *,
    metadata: MetaData | None = None,
    versions_dir: Path | None = None,
    connection: Connection | None = None,
    database_url: str = "",
) -> Config:
    """An Alembic `Config` built in code: the kit's env.py, kit + service version locations."""
    config = Config()

    def set_option(name: str, value: str) -> None:
        config.set_main_option(name, value.replace("%", "%%"))

    set_option("script_location", str(MIGRATIONS_DIR))
    set_option("path_separator", "os")
    locations = [KIT_VERSIONS_DIR] + ([versions_dir] if versions_dir is not None else [])
    set_option("version_locations", os.pathsep.join(str(p) for p in locations))
    if database_url:
        set_option("sqlalchemy.url", normalise_url(database_url))
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff:
        config.set_section_option("post_write_hooks", "hooks", "ruff_fix, ruff_format")
        for hook, args in (
            ("ruff_fix", "check --quiet --fix --exit-zero REVISION_SCRIPT_FILENAME"),
            ("ruff_format", "format --quiet REVISION_SCRIPT_FILENAME"),
        ):
            config.set_section_option("post_write_hooks", f"{hook}.type", "exec")
            config.set_section_option("post_write_hooks", f"{hook}.executable", ruff)
            config.set_section_option("post_write_hooks", f"{hook}.options", args)
    config.attributes["target_metadata"] = target_metadata(metadata)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_transaction(database_url: str) -> Iterator[Connection]:
    """One connection in one transaction that holds the migration lock until it ends."""
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection, connection.begin():
            # SQLite: the kit's engine began with BEGIN IMMEDIATE, which holds the write lock.
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            yield connection
    finally:
        engine.dispose()


def _adopt_unversioned(connection: Connection, config: Config, targets: Sequence[MetaData]) -> None:
    """A database made by `create_all` before migrations existed: stamp it if it matches."""
    inspector = inspect(connection)
    if inspector.has_table(VERSION_TABLE):
        return
    ours = {name for metadata in targets for name in metadata.tables}
    if not ours & set(inspector.get_table_names()):
        return
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            # Tables of no target (e.g. a test service's, made by create_all) are not ours.
            "include_object": lambda _obj, _name, type_, reflected, compare_to: (
                not (type_ == "table" and reflected and compare_to is None)
            ),
        },
    )
    diffs = compare_metadata(context, list(targets))  # type: ignore[arg-type]
    if diffs:
        raise RuntimeError(
            "the database has tables but no Alembic version, and they differ from the models; "
            f"migrate it by hand (or drop it) first: {diffs}"
        )
    log.warning("database predates migrations and matches the models: stamping it at heads")
    command.stamp(config, "heads")


def upgrade(
    database_url: str,
    service: str,
    metadata: MetaData | None,
    versions_dir: Path | None,
) -> None:
    """Bring a service's database to the heads of the kit's and the service's branches.

    With no `versions_dir` only the kit's tables are migrated (a service without migrations
    creates its own tables itself). Safe to call from several processes at once.
    """
    targets = target_metadata(metadata if versions_dir is not None else None)
    with _migration_transaction(database_url) as connection:
        config = alembic_config(
            metadata=metadata if versions_dir is not None else None,
            versions_dir=versions_dir,
            connection=connection,
        )
        _adopt_unversioned(connection, config, targets)
        command.upgrade(config, "heads")
    log.info("database of %s is at heads", service)


def _next_rev_id(service: str, versions_dir: Path) -> str:
    pattern = re.compile(rf"^{re.escape(service)}_(\d+)")
    numbers = [int(m.group(1)) for p in versions_dir.glob("*.py") if (m := pattern.match(p.name))]
    return f"{service}_{max(numbers, default=0) + 1:04d}"


def revision(
    service: str,
    message: str,
    *,
    database_url: str | None = None,
    metadata: MetaData | None = None,
    versions_dir: Path | None = None,
    autogenerate: bool = True,
) -> Path:
    """Write the next revision of `service` (or of the kit, `service="kit"`); returns its path.

    Autogenerate compares the models with a database at the current heads: a scratch SQLite
    database brought there first, unless `database_url` names one (it must be at heads).
    """
    if service == KIT:
        metadata, versions_dir, service_dir = None, None, KIT_VERSIONS_DIR
    else:
        if metadata is None:
            metadata = load_definition(service).metadata
        if versions_dir is None:
            versions_dir = service_versions_dir(service) or _create_versions_dir(service)
        service_dir = versions_dir
    existing = [p for p in service_dir.glob("*.py") if p.name != "__init__.py"]
    rev_id = _next_rev_id(service, service_dir)
    with tempfile.TemporaryDirectory() as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'scratch.db'}"
        if database_url is None:
            upgrade(url, service, metadata, versions_dir)
        with _migration_transaction(url) as connection:
            config = alembic_config(
                metadata=metadata, versions_dir=versions_dir, connection=connection
            )
            script = command.revision(
                config,
                message=message,
                autogenerate=autogenerate,
                rev_id=rev_id,
                head=f"{service}@head" if existing else "base",
                branch_label=None if existing else service,
                version_path=str(service_dir),
            )
    scripts = script if isinstance(script, list) else [script]
    path = Path(scripts[0].path)  # type: ignore[union-attr]
    log.info("wrote %s", path)
    return path


def _create_versions_dir(service: str) -> Path:
    spec = importlib.util.find_spec(f"switchboard_{service}")
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"no package switchboard_{service}")
    migrations = Path(next(iter(spec.submodule_search_locations))) / "migrations"
    (migrations / "versions").mkdir(parents=True, exist_ok=True)
    for package in (migrations, migrations / "versions"):
        (package / "__init__.py").touch()
    return migrations / "versions"


def load_definition(service: str) -> ServiceDefinition:
    module = importlib.import_module(f"switchboard_{service}.app")
    definition: ServiceDefinition = module.definition
    return definition


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m switchboard_shared.migrate",
        description="Apply (or write) a service's Alembic migrations.",
    )
    parser.add_argument("service", help="e.g. orders; `kit` with --revision for the kit's tables")
    parser.add_argument("--database-url", help="default: the service's configured database")
    parser.add_argument("--revision", metavar="MESSAGE", help="autogenerate a new revision")
    parser.add_argument("--empty", action="store_true", help="with --revision: no autogenerate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.revision:
        path = revision(
            args.service,
            args.revision,
            database_url=args.database_url,
            autogenerate=not args.empty,
        )
        print(path)
        return 0
    if args.service == KIT:
        parser.error("the kit is migrated with each service: name a service")
    definition = load_definition(args.service)
    url = args.database_url or definition.settings.resolved_database_url(
        definition.name, definition.platform
    )
    upgrade(url, definition.name, definition.metadata, service_versions_dir(args.service))
    print(f"{definition.name}: database at heads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
