"""Set-up on SQLModel: creating or upgrading the schema (``init``) and loading workflow files
as versions.

The directory (offices, divisions, people, roles, delegations) is written by the use cases of
:mod:`ikuflow.app.directory`; its names are re-exported here for the callers of
``admin.add_office`` and the like.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from ikuflow.app.directory import (CODE_RE, EMAIL_RE, NAME_MAX, add_division,  # noqa: F401
                                   add_missing_divisions, add_office, add_person, check_code,
                                   check_email, check_name, delegate, list_delegations, remove_role,
                                   revoke_delegation, scope_of)
from ikuflow.calendar import now_utc
from ikuflow.definition import Workflow, load_file
from ikuflow.errors import DefinitionError, IkuflowError
from ikuflow.store.db import connect, database_url, is_postgres, redact, sa_engine, sqlite_path

SCHEMA_VERSION = "1"
STANDARD_DIVISIONS = {
    "sdmo": "SDMO & Diklat",
    "hukum": "Hukum",
    "penanganan": "Penanganan Pelanggaran",
    "pencegahan": "Pencegahan & Humas",
    "sengketa": "Penyelesaian Sengketa",
}
CALENDAR_FILE_STEM = "calendar"  # workflows/calendar.yaml holds working-day overrides


def workflows_dir() -> Path:
    """IKUFLOW_WORKFLOWS, else ./workflows, else the workflows shipped with ikuflow."""
    from ikuflow.paths import data_dir

    return data_dir("IKUFLOW_WORKFLOWS", "workflows")


def workflow_files(directory: Path | None = None) -> list[Path]:
    d = directory or workflows_dir()
    return sorted(p for p in d.glob("*.y*ml")
                  if p.suffix in (".yaml", ".yml") and p.stem != CALENDAR_FILE_STEM)


def check_workflows(paths) -> list:
    """Every problem of the workflow files and of the e-mail templates the valid ones name."""
    from ikuflow.definition import check_files
    from ikuflow.notify.render import Renderer, template_names

    problems = check_files(paths)
    bad = {p.file for p in problems}
    names = []
    for path in paths:
        if str(path) not in bad:
            names += template_names(load_file(path))
    return problems + (Renderer().check(names) if names else [])


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


def init(url: str | None = None, directory: Path | None = None) -> dict:
    """Create or upgrade the database, add the standard divisions, load the workflow files."""
    from sqlmodel import select

    from ikuflow import migrations
    from ikuflow.store import schema

    files = workflow_files(directory)
    if not files:
        raise IkuflowError(f"no workflow files (*.yaml) in {directory or workflows_dir()}; "
                           "set IKUFLOW_WORKFLOWS to the folder that holds them")
    problems = check_workflows(files)
    if problems:
        raise DefinitionError(problems)
    loaded = [load_file(f) for f in files]

    from ikuflow.calendar import load_overrides

    cal_file = (directory or workflows_dir()) / f"{CALENDAR_FILE_STEM}.yaml"
    calendar = load_overrides(cal_file) if cal_file.exists() else None

    url = database_url(url)
    if is_postgres(url):
        connect(url, create=True).close()  # a clear message if the server cannot be reached
        where = redact(url)
    else:
        where = sqlite_path(url)
        connect(url, create=True).close()
    before, after = migrations.upgrade(url)
    added_versions = []
    add_missing_divisions(STANDARD_DIVISIONS, url)  # through the directory's one writer
    with _session(url) as s:
        for wf in loaded:
            v = _add_workflow_version(s, wf)
            if v:
                added_versions.append(f"{wf.name} v{v}")
        if calendar is not None:  # the file is authoritative: replace the stored overrides
            for row in s.exec(select(schema.CalendarDay)).all():
                s.delete(row)
            s.flush()
            s.add_all([schema.CalendarDay(day=d, working=False) for d in sorted(calendar.off)]
                      + [schema.CalendarDay(day=d, working=True) for d in sorted(calendar.on)])
        if s.get(schema.Meta, "schema_version") is None:
            s.add(schema.Meta(key="schema_version", value=SCHEMA_VERSION))
        s.commit()
        counts = {"offices": len(s.exec(select(schema.Office)).all())}
    return {"database": where, "created": before is None, "schema": after,
            "schema_before": before, "workflows_loaded": added_versions,
            "workflows": [wf.name for wf in loaded], **counts}


def _add_workflow_version(s, wf: Workflow) -> int | None:
    """Store ``wf`` as a new version unless its exact text is already stored."""
    from sqlmodel import func, select

    from ikuflow.store.schema import WorkflowVersion

    same = s.exec(select(WorkflowVersion).where(WorkflowVersion.name == wf.name,
                                                WorkflowVersion.sha256 == wf.sha256)).first()
    if same is not None:
        return None
    latest = s.exec(select(func.max(WorkflowVersion.version)).where(WorkflowVersion.name == wf.name)).one()
    version = (latest or 0) + 1
    s.add(WorkflowVersion(name=wf.name, version=version, sha256=wf.sha256, source=wf.source,
                          path=wf.path, loaded_at=now_utc()))
    return version
