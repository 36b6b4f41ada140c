"""Alembic environment for ikuflow: the database comes from ``ikuflow.migrations.upgrade`` (or
IKUFLOW_DATABASE_URL), never from an ini file, so one code path serves the CLI and the tests."""

from alembic import context

from ikuflow.store.db import database_url, sa_engine

config = context.config


def run() -> None:
    """Run the migrations on the connection Alembic was given."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = sa_engine(config.attributes.get("url") or database_url())
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


def _migrate(connection) -> None:
    from sqlmodel import SQLModel

    import ikuflow.store.schema  # noqa: F401  (registers the tables on SQLModel.metadata)

    context.configure(connection=connection, target_metadata=SQLModel.metadata,
                      render_as_batch=True, compare_type=True)
    # SQLite alters a table by rebuilding it (batch mode); dropping the old copy of a table other
    # rows point at fails while foreign keys are enforced. They are switched off for the
    # migration (outside any transaction: SQLite ignores the pragma inside one) and every
    # reference is checked before the migration commits.
    raw = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
    if raw is not None:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            if raw is not None:
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")
    finally:
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")


run()
