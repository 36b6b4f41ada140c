"""Schema migrations (Alembic). ``ikuflow init`` calls :func:`upgrade`: a new database gets the
whole schema, an existing one is brought to the newest revision in place, its data kept.

A database created before migrations existed (ikuflow 0.1, by ``create_all``) has the tables of
revision 0001 but no ``alembic_version`` table: it is stamped 0001 first, then upgraded.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def config(url: str):
    """Alembic's configuration for the database ``url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["url"] = url
    return cfg


def head() -> str | None:
    """The newest revision the package ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config("")).get_current_head()


def current(url: str) -> str | None:
    """The revision a database is at (None: empty, or created before migrations)."""
    from alembic.runtime.migration import MigrationContext

    from ikuflow.store.db import sa_engine

    engine = sa_engine(url)
    try:
        with engine.connect() as con:
            return MigrationContext.configure(con).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database at ``url`` to ``revision``; returns (revision before, after)."""
    from alembic import command
    from sqlalchemy import inspect

    from ikuflow.store.db import connect, sa_engine

    connect(url, create=True).close()  # a new SQLite file is created owner-only, here, not by SQLAlchemy
    before = current(url)
    cfg = config(url)
    if before is None:
        engine = sa_engine(url)
        try:
            legacy = "document" in inspect(engine).get_table_names()
        finally:
            engine.dispose()
        if legacy:  # ikuflow 0.1: revision 0001's tables, made without Alembic
            command.stamp(cfg, "0001")
            before = "0001"
    command.upgrade(cfg, revision)
    return before, current(url)
