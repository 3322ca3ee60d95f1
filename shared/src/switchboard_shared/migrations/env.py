"""One Alembic environment for every service; `switchboard_shared.migrate` configures it in code.

`config.attributes` carries:
- `connection`: an open connection, already inside the (locked) migration transaction;
- `target_metadata`: the kit's metadata plus the service's, for autogenerate.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB

from switchboard_shared.db import KitBase

config = context.config
target_metadata = config.attributes.get("target_metadata") or [KitBase.metadata]


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render `JsonColumn` (JSON, JSONB on PostgreSQL) the same whichever database autogenerates.

    Alembic's default renders the variant as `JSONB(astext_type=Text())` with `Text` unimported.
    """
    if type_ == "type" and isinstance(obj, JSON):
        variant = getattr(obj, "_variant_mapping", {}).get("postgresql")
        if isinstance(variant, JSONB):
            autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
            return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


OPTIONS: dict[str, Any] = {
    "render_item": render_item,
    "target_metadata": target_metadata,
    "compare_type": True,
    "compare_server_default": True,
    # SQLite cannot ALTER most things: batch mode rebuilds the table (a plain ALTER elsewhere).
    "render_as_batch": True,
}


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through switchboard_shared.migrate, not the alembic CLI")
    context.configure(connection=connection, transactional_ddl=True, **OPTIONS)
    # The caller holds the transaction (and the lock); this is a no-op inside it.
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
