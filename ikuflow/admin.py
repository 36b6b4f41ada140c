"""Set-up: creating or upgrading the schema (``init``) and loading the workflow files as
versions (stored by :mod:`ikuflow.store.catalog`).

The directory (offices, divisions, people, roles, delegations) is written by the use cases of
:mod:`ikuflow.app.directory`; its names are re-exported here for the callers of
``admin.add_office`` and the like.
"""

from __future__ import annotations

from pathlib import Path

from ikuflow.app.directory import (CODE_RE, EMAIL_RE, NAME_MAX, add_division,  # noqa: F401
                                   add_missing_divisions, add_office, add_person, check_code,
                                   check_email, check_name, delegate, list_delegations, remove_role,
                                   revoke_delegation, scope_of)
from ikuflow.definition import load_file
from ikuflow.errors import DefinitionError, IkuflowError
from ikuflow.store.db import connect, database_url, is_postgres, redact, sqlite_path

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
    """The workflow files of the workflow folder (IKUFLOW_WORKFLOWS, ./workflows, or the shipped ones)."""
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


def init(url: str | None = None, directory: Path | None = None) -> dict:
    """Create or upgrade the database, add the standard divisions, load the workflow files."""
    from ikuflow import migrations
    from ikuflow.store import catalog

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
    from ikuflow.store import keys

    key_where, key_made = keys.ensure(url)  # before the schema: migration 0009 chains the history with it
    before, after = migrations.upgrade(url)
    add_missing_divisions(STANDARD_DIVISIONS, url)  # through the directory's one writer
    added_versions, offices = catalog.save(url, loaded, (calendar.off, calendar.on) if calendar else None,
                                           SCHEMA_VERSION)
    return {"database": where, "created": before is None, "schema": after,
            "schema_before": before, "workflows_loaded": added_versions,
            "workflows": [wf.name for wf in loaded], "offices": offices,
            "secret_key": key_where, "secret_key_created": key_made}
