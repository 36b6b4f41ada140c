"""Set-up use cases on SQLModel: the schema, the directory (offices, divisions, people and
their roles) and loading workflow files as versions.

These run rarely and are not on the hot path, so they use the ORM; every function is one
transaction and validates all of its input before writing anything.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from ikuflow.calendar import now_utc, zone
from ikuflow.definition import ROLES, Workflow, load_file
from ikuflow.errors import DefinitionError, IkuflowError, NotFound, UsageError
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
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# ASCII addresses only: SMTP without SMTPUTF8 cannot carry others, and one bad row must not block mail
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


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


def check_code(code: str, what: str) -> str:
    if not CODE_RE.match(code or ""):
        raise UsageError(f"'{code}' is not a valid {what} code; use lower-case letters, digits "
                         "and '-', e.g. pacitan")
    return code


def check_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise UsageError(f"'{email}' is not a valid e-mail address")
    return email


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
    with _session(url) as s:
        for code, name in STANDARD_DIVISIONS.items():
            if s.get(schema.Division, code) is None:
                s.add(schema.Division(code=code, name=name))
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


def _directory_changed(s) -> None:
    """Bump the directory version: services drop the people they cached."""
    from ikuflow.store.schema import Meta

    meta = s.get(Meta, "directory_version")
    if meta is None:
        s.add(Meta(key="directory_version", value="1"))
    else:
        meta.value = str(int(meta.value) + 1)


def add_office(code: str, name: str, tz: str = "Asia/Jakarta", parent: str | None = None,
               level: str | None = None, url: str | None = None) -> dict:
    from ikuflow.store.schema import Office

    check_code(code, "office")
    tz = zone(tz).key
    if not name or not name.strip():
        raise UsageError("an office needs a name: --name \"Bawaslu Kabupaten Pacitan\"")
    with _session(url) as s:
        if parent is not None and s.get(Office, parent) is None:
            raise NotFound("office", parent, "add the parent office first")
        if parent == code:
            raise UsageError(f"office '{code}' cannot be its own parent")
        above, seen = parent, set()
        while above is not None and above not in seen:  # the new parent must not be below the office
            seen.add(above)
            row = s.get(Office, above)
            above = row.parent if row is not None else None
            if above == code:
                raise UsageError(f"office '{parent}' is below '{code}'; making it the parent would put "
                                 f"'{code}' above itself")
        office = s.get(Office, code)
        created = office is None
        if office is None:
            office = Office(code=code, name=name.strip(), tz=tz, parent=parent,
                            level=level or ("national" if parent is None else "regency"))
        else:
            office.name, office.tz, office.parent = name.strip(), tz, parent
            if level:
                office.level = level
        s.add(office)
        _directory_changed(s)
        s.commit()
        return {"code": code, "name": office.name, "tz": tz, "parent": parent, "created": created}


def add_division(code: str, name: str, url: str | None = None) -> dict:
    from ikuflow.store.schema import Division

    check_code(code, "division")
    if not name or not name.strip():
        raise UsageError("a division needs a name: --name \"Hukum\"")
    with _session(url) as s:
        div = s.get(Division, code)
        created = div is None
        s.add(Division(code=code, name=name.strip()) if created else div)
        if not created:
            div.name = name.strip()
        _directory_changed(s)
        s.commit()
    return {"code": code, "name": name.strip(), "created": created}


def add_person(email: str, name: str, role: str, office: str, division: str | None = None,
               url: str | None = None) -> dict:
    """Add a person (or find them by e-mail) and give them a role at an office."""
    from sqlmodel import select

    from ikuflow.store.schema import Division, Office, Person, RoleAssignment

    email = check_email(email)
    if role not in ROLES:
        from ikuflow.definition.load import hint

        raise UsageError(f"unknown role '{role}'; {hint(role, ROLES)}")
    if role == "coordinator" and not division:
        raise UsageError("a coordinator leads a division: add --division CODE")
    if role != "coordinator" and division:
        raise UsageError(f"the {role} role is for a whole office; leave out --division")
    with _session(url) as s:
        if s.get(Office, office) is None:
            raise NotFound("office", office, "add it with 'ikuflow office add' first")
        if division and s.get(Division, division) is None:
            raise NotFound("division", division, "add it with 'ikuflow division add' first")
        person = s.exec(select(Person).where(Person.email == email)).first()
        if person is None:
            if not name or not name.strip():
                raise UsageError(f"{email} is new: give their name with --name")
            person = Person(email=email, name=name.strip())
            s.add(person)
            s.flush()
        elif name and name.strip():
            person.name = name.strip()
        exists = s.exec(select(RoleAssignment).where(
            RoleAssignment.person_id == person.id, RoleAssignment.role == role,
            RoleAssignment.office_code == office, RoleAssignment.division_code == division)).first()
        if exists is None:
            s.add(RoleAssignment(person_id=person.id, role=role, office_code=office,
                                 division_code=division))
        _directory_changed(s)
        s.commit()
        return {"email": email, "name": person.name, "role": role, "office": office,
                "division": division, "created": exists is None}


def delegate(delegator: str, delegate_to: str, starts, ends, url: str | None = None) -> dict:
    """Let ``delegate_to`` act for ``delegator`` (Plt/Plh) from ``starts`` to ``ends``."""
    from sqlmodel import select

    from ikuflow.store.schema import Delegation, Person

    delegator, delegate_to = check_email(delegator), check_email(delegate_to)
    if delegator == delegate_to:
        raise UsageError("a person cannot act for themselves; give another e-mail with --to")
    if ends < starts:
        raise UsageError(f"--until {ends} is before --from {starts}")
    with _session(url) as s:
        people = {p.email: p for p in s.exec(select(Person).where(Person.email.in_([delegator, delegate_to])))}
        for email in (delegator, delegate_to):
            if email not in people:
                raise NotFound("person", email, "add them with 'ikuflow person add'")
        row = Delegation(delegator_id=people[delegator].id, delegate_id=people[delegate_to].id,
                         starts=starts, ends=ends, created_at=now_utc())
        s.add(row)
        _directory_changed(s)
        s.commit()
        return {"id": row.id, "delegator": delegator, "delegate": delegate_to,
                "from": starts.isoformat(), "until": ends.isoformat()}
