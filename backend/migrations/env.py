"""Alembic environment: the migrations are the schema, in tests too (never ``create_all``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pacs.config import get_settings
from pacs.db import direct_url

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("url") or direct_url(get_settings())
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, connect_args={"prepare_threshold": None})
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.attributes.get("url") or direct_url(get_settings()), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
