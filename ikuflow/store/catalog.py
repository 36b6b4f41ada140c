"""What ``init`` keeps besides the directory: the workflow versions, the working-day overrides
of the calendar file and the schema's meta row, written through SQLModel in one transaction."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from typing import Iterable

from ikuflow.store.db import sa_engine


@contextmanager
def _session(url: str | None = None):
    """A SQLModel session on its own engine, disposed at the end (no pooled connection left)."""
    from sqlmodel import Session

    engine = sa_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            yield s
    finally:
        engine.dispose()


def save(url: str, workflows: Iterable, calendar: tuple[Iterable[date], Iterable[date]] | None,
         schema_version: str) -> tuple[list[str], int]:
    """Store each workflow whose exact text is new as its next version, replace the stored
    calendar overrides (``(days off, working days)``) when given, and set the schema version
    if unset, in one transaction; the versions added ('iku v2') and the number of offices."""
    from sqlmodel import func, select

    from ikuflow.calendar import now_utc
    from ikuflow.store import schema

    added = []
    with _session(url) as s:
        for wf in workflows:
            same = s.exec(select(schema.WorkflowVersion).where(schema.WorkflowVersion.name == wf.name,
                                                               schema.WorkflowVersion.sha256 == wf.sha256)).first()
            if same is not None:
                continue
            latest = s.exec(select(func.max(schema.WorkflowVersion.version))
                            .where(schema.WorkflowVersion.name == wf.name)).one()
            version = (latest or 0) + 1
            s.add(schema.WorkflowVersion(name=wf.name, version=version, sha256=wf.sha256, source=wf.source,
                                         path=wf.path, loaded_at=now_utc()))
            s.flush()
            added.append(f"{wf.name} v{version}")
        if calendar is not None:  # the file is authoritative: replace the stored overrides
            for row in s.exec(select(schema.CalendarDay)).all():
                s.delete(row)
            s.flush()
            off, on = calendar
            s.add_all([schema.CalendarDay(day=d, working=False) for d in sorted(off)]
                      + [schema.CalendarDay(day=d, working=True) for d in sorted(on)])
        if s.get(schema.Meta, "schema_version") is None:
            s.add(schema.Meta(key="schema_version", value=schema_version))
        s.commit()
        offices = len(s.exec(select(schema.Office)).all())
    return added, offices
