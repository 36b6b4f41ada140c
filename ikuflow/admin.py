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
from ikuflow.errors import Conflict, DefinitionError, IkuflowError, NotFound, UsageError
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
NAME_MAX = 200  # characters in the name of an office, a division or a person
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
    """``code`` if it is a valid office or division code, else a usage error."""
    if not CODE_RE.match(code or ""):
        raise UsageError(f"'{code}' is not a valid {what} code; use lower-case letters, digits "
                         "and '-', e.g. pacitan")
    return code


def check_email(email: str) -> str:
    """``email`` lower-cased without surrounding blanks, if it is a valid address."""
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
    """Bump the directory version: services drop the people they cached.

    One UPDATE that adds 1 in the database (not a read then a write), so two changes at the same
    time on PostgreSQL bump it twice and no cache keeps a version that was overwritten."""
    from sqlalchemy import Integer, String, cast, update
    from sqlmodel import col

    from ikuflow.store.schema import Meta

    done = s.exec(update(Meta).where(col(Meta.key) == "directory_version")
                  .values(value=cast(cast(col(Meta.value), Integer) + 1, String)))
    if done.rowcount == 0:
        s.add(Meta(key="directory_version", value="1"))


def check_name(name: str, what: str, blank: str) -> str:
    """``name`` without surrounding blanks; a blank one (``blank`` says what to do) or one longer
    than NAME_MAX characters is a usage error."""
    name = (name or "").strip()
    if not name:
        raise UsageError(blank)
    if len(name) > NAME_MAX:
        raise UsageError(f"the {what} name is {len(name)} characters long; at most {NAME_MAX} are "
                         "allowed: shorten it")
    return name


def _change(changes: dict, row, field: str, value) -> None:
    """Set ``row.field`` to ``value`` and note it in ``changes`` when it differs."""
    old = getattr(row, field)
    if value != old:
        changes[field] = {"from": old, "to": value}
        setattr(row, field, value)


def add_office(code: str, name: str | None = None, tz: str | None = None, parent: str | None = None,
               level: str | None = None, url: str | None = None) -> dict:
    """Add an office, or change only the given fields of an existing one.

    ``tz``, ``parent`` and ``level`` left as None keep what an existing office has (a new one
    gets Asia/Jakarta, no parent, and level national without a parent, regency with one);
    ``parent=""`` removes the parent. Returns the office, ``created`` and ``changes``
    (field -> {from, to}).
    """
    from ikuflow.store.schema import Office

    check_code(code, "office")
    if name is not None:
        name = check_name(name, "office", "an office needs a name: --name \"Bawaslu Kabupaten Pacitan\"")
    tz = zone(tz).key if tz is not None else None
    parent = parent.strip() if parent is not None else None  # "" = no parent
    with _session(url) as s:
        office = s.get(Office, code)
        if office is None and name is None:
            raise UsageError(f"office '{code}' is new: give its name with --name")
        if parent:
            if s.get(Office, parent) is None:
                raise NotFound("office", parent, "add the parent office first")
            if parent == code:
                raise UsageError(f"office '{code}' cannot be its own parent")
            above: str | None = parent
            seen: set[str] = set()
            while above is not None and above not in seen:  # the new parent must not be below the office
                seen.add(above)
                row = s.get(Office, above)
                above = row.parent if row is not None else None
                if above == code:
                    raise UsageError(f"office '{parent}' is below '{code}'; making it the parent would "
                                     f"put '{code}' above itself")
        changes: dict = {}
        created = office is None
        if office is None:
            assert name is not None  # checked above
            office = Office(code=code, name=name, tz=tz or "Asia/Jakarta", parent=parent or None,
                            level=level or ("regency" if parent else "national"))
            s.add(office)
        else:
            for field, value in (("name", name), ("tz", tz), ("level", level)):
                if value is not None:
                    _change(changes, office, field, value)
            if parent is not None:
                _change(changes, office, "parent", parent or None)
        if created or changes:
            _directory_changed(s)
            s.commit()
        return {"code": code, "name": office.name, "tz": office.tz, "parent": office.parent,
                "level": office.level, "created": created, "changes": changes}


def add_division(code: str, name: str, url: str | None = None) -> dict:
    """Add a division, or rename an existing one. Returns it, ``created`` and ``changes``."""
    from ikuflow.store.schema import Division

    check_code(code, "division")
    name = check_name(name, "division", "a division needs a name: --name \"Hukum\"")
    with _session(url) as s:
        div = s.get(Division, code)
        created = div is None
        changes: dict = {}
        if div is None:
            s.add(Division(code=code, name=name))
        else:
            _change(changes, div, "name", name)
        if created or changes:
            _directory_changed(s)
            s.commit()
    return {"code": code, "name": name, "created": created, "changes": changes}


def _check_role(role: str, division: str | None) -> None:
    if role not in ROLES:
        from ikuflow.definition.load import hint

        raise UsageError(f"unknown role '{role}'; {hint(role, ROLES)}")
    if role == "coordinator" and not division:
        raise UsageError("a coordinator leads a division: add --division CODE")
    if role != "coordinator" and division:
        raise UsageError(f"the {role} role is for a whole office; leave out --division")


def scope_of(office: str, division: str | None) -> str:
    """``pacitan/sdmo`` or ``pacitan``: where a role holds, as the CLI shows it."""
    return office + (f"/{division}" if division else "")


def add_person(email: str, name: str | None, role: str, office: str, division: str | None = None,
               url: str | None = None) -> dict:
    """Add a person (or find them by e-mail, renaming them if ``name`` differs) and give them a
    role at an office. Returns ``created`` (the role is new), ``person_created`` and
    ``changes`` (name -> {from, to})."""
    from sqlmodel import select

    from ikuflow.store.schema import Division, Office, Person, RoleAssignment

    email = check_email(email)
    _check_role(role, division)
    if name is not None:
        name = check_name(name, "person's", f"the name of {email} is blank; give it with --name")
    with _session(url) as s:
        if s.get(Office, office) is None:
            raise NotFound("office", office, "add it with 'ikuflow office add' first")
        if division and s.get(Division, division) is None:
            raise NotFound("division", division, "add it with 'ikuflow division add' first")
        person = s.exec(select(Person).where(Person.email == email)).first()
        changes: dict = {}
        person_created = person is None
        if person is None:
            if name is None:
                raise UsageError(f"{email} is new: give their name with --name")
            person = Person(email=email, name=name)
            s.add(person)
            s.flush()
        elif name is not None:
            _change(changes, person, "name", name)
        exists = s.exec(select(RoleAssignment).where(
            RoleAssignment.person_id == person.id, RoleAssignment.role == role,
            RoleAssignment.office_code == office, RoleAssignment.division_code == division)).first()
        if exists is None:
            s.add(RoleAssignment(person_id=person.id, role=role, office_code=office,
                                 division_code=division))
        if person_created or changes or exists is None:
            _directory_changed(s)
            s.commit()
        return {"email": email, "name": person.name, "role": role, "office": office,
                "division": division, "created": exists is None, "person_created": person_created,
                "changes": changes}


def remove_role(email: str, role: str, office: str, division: str | None = None,
                url: str | None = None) -> dict:
    """Take one role away from a person; the person stays (history names them).

    Raises NotFound (exit 3) for an unknown person or a role they do not hold here. Returns the
    role removed and ``vacant``: nobody holds that role there any more.
    """
    from sqlmodel import col, select

    from ikuflow.store.schema import Person, RoleAssignment

    email = check_email(email)
    _check_role(role, division)
    scope = scope_of(office, division)
    with _session(url) as s:
        person = s.exec(select(Person).where(Person.email == email)).first()
        if person is None:
            raise NotFound("person", email, "see 'ikuflow person list'")
        held = s.exec(select(RoleAssignment).where(RoleAssignment.person_id == person.id)
                      .order_by(col(RoleAssignment.office_code), col(RoleAssignment.role),
                                col(RoleAssignment.division_code))).all()
        match = [ra for ra in held if (ra.role, ra.office_code, ra.division_code) == (role, office, division)]
        if not match:
            roles = ", ".join(f"{ra.role} of {scope_of(ra.office_code, ra.division_code)}" for ra in held)
            raise NotFound("role assignment", f"{role} of {scope}",
                           f"{email} holds {roles or 'no role'}; nothing was removed")
        s.delete(match[0])
        s.flush()
        vacant = s.exec(select(RoleAssignment.id).where(
            RoleAssignment.role == role, RoleAssignment.office_code == office,
            RoleAssignment.division_code == division)).first() is None
        _directory_changed(s)
        s.commit()
    return {"email": email, "role": role, "office": office, "division": division, "removed": True,
            "vacant": vacant}


def _delegation_dict(row, delegator: str, delegate_to: str) -> dict:
    return {"id": row.id, "delegator": delegator, "delegate": delegate_to,
            "from": row.starts.isoformat(), "until": row.ends.isoformat(),
            "created_at": row.created_at.isoformat(timespec="seconds") + "Z"}


def delegate(delegator: str, delegate_to: str, starts, ends, url: str | None = None) -> dict:
    """Let ``delegate_to`` act for ``delegator`` (Plt/Plh) from ``starts`` to ``ends``.

    One acting official at a time: a delegation of the same delegator on overlapping days (a
    duplicate included), or one that would make two people act for each other on the same
    days, is refused with Conflict (exit 6), naming the delegation in the way.
    """
    from sqlmodel import and_, col, or_, select

    from ikuflow.store.schema import Delegation, Person

    delegator, delegate_to = check_email(delegator), check_email(delegate_to)
    if delegator == delegate_to:
        raise UsageError("a person cannot act for themselves; give another e-mail with --to")
    if ends < starts:
        raise UsageError(f"--until {ends} is before --from {starts}")
    with _session(url) as s:
        # Lock both people (PostgreSQL; SQLite's BEGIN IMMEDIATE serializes writers already), in
        # id order: two delegations involving the same people are checked one after the other.
        people = {p.email: p for p in s.exec(
            select(Person).where(col(Person.email).in_([delegator, delegate_to])).order_by(col(Person.id))
            .with_for_update())}
        for email in (delegator, delegate_to):
            if email not in people:
                raise NotFound("person", email, "add them with 'ikuflow person add'")
        a, b = people[delegator].id, people[delegate_to].id
        emails = {a: delegator, b: delegate_to}
        clashes = s.exec(select(Delegation).where(
            or_(Delegation.delegator_id == a, and_(Delegation.delegator_id == b, Delegation.delegate_id == a)),
            Delegation.starts <= ends, Delegation.ends >= starts)
            .order_by(col(Delegation.starts), col(Delegation.id))).all()
        for d in clashes:  # a duplicate first: it says the most
            if (d.delegator_id, d.delegate_id, d.starts, d.ends) == (a, b, starts, ends):
                raise Conflict(f"delegation {d.id} already lets {delegate_to} act for {delegator} from "
                               f"{starts} until {ends}; nothing was added")
        for d in clashes:
            span = f"from {d.starts} until {d.ends}"
            if d.delegator_id == b:
                raise Conflict(f"{delegator} acts for {delegate_to} {span} (delegation {d.id}); two "
                               "people cannot act for each other on the same days")
            other = emails.get(d.delegate_id) or s.get(Person, d.delegate_id).email
            raise Conflict(f"{other} already acts for {delegator} {span} (delegation {d.id}); one "
                           f"acting official at a time: end it with 'ikuflow delegate revoke {d.id}' "
                           "or choose other dates")
        row = Delegation(delegator_id=a, delegate_id=b, starts=starts, ends=ends, created_at=now_utc())
        s.add(row)
        _directory_changed(s)
        s.commit()
        return _delegation_dict(row, delegator, delegate_to)


def list_delegations(person: str | None = None, active_on=None, url: str | None = None) -> list[dict]:
    """Every delegation, by start date; only those naming ``person`` (as either side) and only
    those that hold on the date ``active_on``, when given."""
    from sqlalchemy.orm import aliased
    from sqlmodel import col, or_, select

    from ikuflow.store.schema import Delegation, Person

    if person is not None:
        person = check_email(person)
    by, to = aliased(Person), aliased(Person)
    with _session(url) as s:
        if person is not None and s.exec(select(Person.id).where(Person.email == person)).first() is None:
            raise NotFound("person", person, "see 'ikuflow person list'")
        q = (select(Delegation, by.email, to.email).join(by, col(by.id) == Delegation.delegator_id)
             .join(to, col(to.id) == Delegation.delegate_id))
        if person is not None:
            q = q.where(or_(by.email == person, to.email == person))
        if active_on is not None:
            q = q.where(Delegation.starts <= active_on, Delegation.ends >= active_on)
        rows = s.exec(q.order_by(col(Delegation.starts), col(Delegation.id))).all()
        return [_delegation_dict(d, a, b) for d, a, b in rows]


def revoke_delegation(delegation_id: int, until=None, url: str | None = None) -> dict:
    """Remove a delegation, or with ``until`` end it on that day instead (it can only be
    shortened). History rows keep their names: they hold e-mails, not the delegation's id."""
    from ikuflow.store.schema import Delegation, Person

    with _session(url) as s:
        row = s.get(Delegation, delegation_id, with_for_update=True)
        if row is None:
            raise NotFound("delegation", str(delegation_id), "see 'ikuflow delegate list'")
        out = _delegation_dict(row, s.get(Person, row.delegator_id).email, s.get(Person, row.delegate_id).email)
        if until is None:
            s.delete(row)
            out["removed"], out["changes"] = True, {}
        else:
            if until < row.starts:
                raise UsageError(f"delegation {delegation_id} starts on {row.starts}, after --until "
                                 f"{until}; to remove it, leave out --until")
            if until > row.ends:
                raise UsageError(f"delegation {delegation_id} ends on {row.ends} already; revoke only "
                                 "shortens it: to extend it, revoke it and add a new one")
            out["removed"], out["until"] = False, until.isoformat()
            out["changes"] = {} if until == row.ends else {
                "until": {"from": row.ends.isoformat(), "to": until.isoformat()}}
            if until == row.ends:
                return out
            row.ends = until
        _directory_changed(s)
        s.commit()
        return out
