"""Alembic environment: the store passes its own connection in ``config.attributes``."""

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from paperwire.store.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None, "the store passes a connection or a URL"
    engine = create_engine(url)
    with engine.begin() as conn:
        _migrate(conn)


def _migrate(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
