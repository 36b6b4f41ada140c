"""The directory use cases: offices, divisions, people and their roles, delegations (acting
officials, Plt/Plh), their listings, and the import of a directory file.

There is one writer: the single commands (``office add``, ``person add``, ...) and the import
change offices, divisions, people and roles through the same functions (``_put_office``,
``_put_division``, ``_put_person``, ``_put_role``), and each use case that changes the
directory bumps its version once (``store.directory.bump_version``), in the same transaction. Each write use
case validates all of its input before it writes and is one transaction; all SQL is in
:mod:`ikuflow.store.directory`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ikuflow.calendar import now_utc, zone
from ikuflow.definition.model import ROLES
from ikuflow.directory_import import CODE_RE, EMAIL_RE, NAME_MAX
from ikuflow.errors import Conflict, NotFound, UsageError
from ikuflow.store import directory as repo
from ikuflow.store.db import reading, transaction

DEFAULT_TZ = "Asia/Jakarta"


# --- checks of input ----------------------------------------------------------------------------
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


def check_name(name: str, what: str, blank: str) -> str:
    """``name`` without surrounding blanks; a blank one (``blank`` says what to do) or one longer
    than NAME_MAX characters is a usage error (``what`` names it there: 'office name', 'note')."""
    name = (name or "").strip()
    if not name:
        raise UsageError(blank)
    if len(name) > NAME_MAX:
        raise UsageError(f"the {what} is {len(name)} characters long; at most {NAME_MAX} are "
                         "allowed: shorten it")
    return name


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


# --- the one writer -----------------------------------------------------------------------------
def _put_office(con, code: str, name: str | None, tz: str | None, parent: str | None,
                level: str | None) -> tuple[repo.Office, bool, dict]:
    """Add the office, or change the given fields of it (None keeps a field, ``parent=""``
    removes the parent); the office as stored, whether it is new, and what changed."""
    old = repo.office(con, code)
    if old is None:
        assert name is not None
        row = repo.Office(code, name, tz or DEFAULT_TZ, parent or None,
                          level or ("regency" if parent else "national"))
        repo.insert_office(con, row)
        return row, True, {}
    row = repo.Office(code, old.name if name is None else name, old.tz if tz is None else tz,
                      old.parent if parent is None else (parent or None), old.level if level is None else level)
    changes = {f: {"from": getattr(old, f), "to": getattr(row, f)}  # in the order the CLI says them
               for f in ("name", "tz", "level", "parent") if getattr(old, f) != getattr(row, f)}
    if changes:
        repo.update_office(con, row)
    return row, False, changes


def _put_division(con, code: str, name: str) -> tuple[bool, dict]:
    """Add the division or rename it; whether it is new, and what changed."""
    old = repo.division(con, code)
    if old is None:
        repo.insert_division(con, repo.Division(code, name))
        return True, {}
    if name == old.name:
        return False, {}
    repo.rename_division(con, code, name)
    return False, {"name": {"from": old.name, "to": name}}


def _put_person(con, email: str, name: str | None) -> tuple[int, str, bool, dict]:
    """Find the person by e-mail (renaming them if ``name`` differs) or add them (``name`` must
    be given then); their id, name, whether they are new, and what changed."""
    old = repo.person(con, email)
    if old is None:
        if name is None:
            raise UsageError(f"{email} is new: give their name with --name")
        return repo.insert_person(con, email, name), name, True, {}
    if name is None or name == old.name:
        return old.id, old.name, False, {}
    repo.rename_person(con, old.id, name)
    return old.id, name, False, {"name": {"from": old.name, "to": name}}


def _put_role(con, person_id: int, role: str, office: str, division: str | None) -> bool:
    """Give the person the role unless they hold it; whether it was added."""
    if repo.has_role(con, person_id, role, office, division):
        return False
    repo.add_role(con, person_id, role, office, division)
    return True


# --- offices, divisions, people -----------------------------------------------------------------
def add_office(code: str, name: str | None = None, tz: str | None = None, parent: str | None = None,
               level: str | None = None, url: str | None = None) -> dict:
    """Add an office, or change only the given fields of an existing one.

    ``tz``, ``parent`` and ``level`` left as None keep what an existing office has (a new one
    gets Asia/Jakarta, no parent, and level national without a parent, regency with one);
    ``parent=""`` removes the parent. Returns the office, ``created`` and ``changes``
    (field -> {from, to}).
    """
    check_code(code, "office")
    if name is not None:
        name = check_name(name, "office name", "an office needs a name: --name \"Bawaslu Kabupaten Pacitan\"")
    tz = zone(tz).key if tz is not None else None
    parent = parent.strip() if parent is not None else None  # "" = no parent
    with transaction(url) as con:
        if repo.office(con, code) is None and name is None:
            raise UsageError(f"office '{code}' is new: give its name with --name")
        if parent:
            parents = repo.office_parents(con)
            if parent not in parents:
                raise NotFound("office", parent, "add the parent office first")
            if parent == code:
                raise UsageError(f"office '{code}' cannot be its own parent")
            above: str | None = parent
            seen: set[str] = set()
            while above is not None and above not in seen:  # the new parent must not be below the office
                seen.add(above)
                above = parents.get(above)
                if above == code:
                    raise UsageError(f"office '{parent}' is below '{code}'; making it the parent would "
                                     f"put '{code}' above itself")
        row, created, changes = _put_office(con, code, name, tz, parent, level)
        if created or changes:
            repo.bump_version(con)
    return {**row._asdict(), "created": created, "changes": changes}


def add_division(code: str, name: str, url: str | None = None) -> dict:
    """Add a division, or rename an existing one. Returns it, ``created`` and ``changes``."""
    check_code(code, "division")
    name = check_name(name, "division name", "a division needs a name: --name \"Hukum\"")
    with transaction(url) as con:
        created, changes = _put_division(con, code, name)
        if created or changes:
            repo.bump_version(con)
    return {"code": code, "name": name, "created": created, "changes": changes}


def add_missing_divisions(divisions: dict[str, str], url: str | None = None) -> list[str]:
    """Add those of ``divisions`` (code -> name) not in the directory (``init``'s standard
    divisions); an existing one keeps its name. Returns the codes added.

    The directory version stays: no one holds a role in a division that was not there, so no
    cached person changes (and ``init`` never moved it)."""
    with transaction(url) as con:
        added = [code for code in divisions if repo.division(con, code) is None]
        for code in added:
            _put_division(con, code, divisions[code])
    return added


def add_person(email: str, name: str | None, role: str, office: str, division: str | None = None,
               url: str | None = None) -> dict:
    """Add a person (or find them by e-mail, renaming them if ``name`` differs) and give them a
    role at an office. Returns ``created`` (the role is new), ``person_created`` and
    ``changes`` (name -> {from, to})."""
    email = check_email(email)
    _check_role(role, division)
    if name is not None:
        name = check_name(name, "person's name", f"the name of {email} is blank; give it with --name")
    with transaction(url) as con:
        if repo.office(con, office) is None:
            raise NotFound("office", office, "add it with 'ikuflow office add' first")
        if division and repo.division(con, division) is None:
            raise NotFound("division", division, "add it with 'ikuflow division add' first")
        person_id, name, person_created, changes = _put_person(con, email, name)
        added = _put_role(con, person_id, role, office, division)
        if person_created or changes or added:
            repo.bump_version(con)
    return {"email": email, "name": name, "role": role, "office": office, "division": division,
            "created": added, "person_created": person_created, "changes": changes}


def remove_role(email: str, role: str, office: str, division: str | None = None,
                url: str | None = None) -> dict:
    """Take one role away from a person; the person stays (history names them).

    Raises NotFound (exit 3) for an unknown person or a role they do not hold here. Returns the
    role removed and ``vacant``: nobody holds that role there any more.
    """
    email = check_email(email)
    _check_role(role, division)
    scope = scope_of(office, division)
    with transaction(url) as con:
        person = repo.person(con, email)
        if person is None:
            raise NotFound("person", email, "see 'ikuflow person list'")
        held = repo.assignments(con, person.id)
        match = [ra for ra in held if (ra.role, ra.office, ra.division) == (role, office, division)]
        if not match:
            roles = ", ".join(f"{ra.role} of {scope_of(ra.office, ra.division)}" for ra in held)
            raise NotFound("role assignment", f"{role} of {scope}",
                           f"{email} holds {roles or 'no role'}; nothing was removed")
        repo.delete_role(con, match[0].id)
        vacant = repo.role_vacant(con, role, office, division)
        repo.bump_version(con)
    return {"email": email, "role": role, "office": office, "division": division, "removed": True,
            "vacant": vacant}


def list_offices(url: str | None = None) -> list[repo.Office]:
    """Every office, by code."""
    with reading(url) as con:
        return repo.offices(con)


def list_divisions(url: str | None = None) -> list[repo.Division]:
    """Every division, by code."""
    with reading(url) as con:
        return repo.divisions(con)


def list_people(office: str | None = None, url: str | None = None) -> list[repo.PersonRole]:
    """Every person with each of their roles, by e-mail and role; only roles at ``office``
    when given."""
    with reading(url) as con:
        return repo.people_roles(con, office)


# --- delegations (acting officials) -------------------------------------------------------------
def _delegation_dict(row: repo.Delegation) -> dict:
    return {"id": row.id, "delegator": row.delegator, "delegate": row.delegate,
            "from": row.starts, "until": row.ends,
            "created_at": row.created_at.isoformat(timespec="seconds") + "Z"}


def delegate(delegator: str, delegate_to: str, starts: date, ends: date, url: str | None = None) -> dict:
    """Let ``delegate_to`` act for ``delegator`` (Plt/Plh) from ``starts`` to ``ends``.

    One acting official at a time: a delegation of the same delegator on overlapping days (a
    duplicate included), or one that would make two people act for each other on the same
    days, is refused with Conflict (exit 6), naming the delegation in the way.
    """
    delegator, delegate_to = check_email(delegator), check_email(delegate_to)
    if delegator == delegate_to:
        raise UsageError("a person cannot act for themselves; give another e-mail with --to")
    if ends < starts:
        raise UsageError(f"--until {ends} is before --from {starts}")
    with transaction(url) as con:
        people = repo.lock_pair(con, delegator, delegate_to)
        for email in (delegator, delegate_to):
            if email not in people:
                raise NotFound("person", email, "add them with 'ikuflow person add'")
        a, b = people[delegator], people[delegate_to]
        clashes = repo.delegation_clashes(con, a, b, starts, ends)
        wanted = (a, b, starts.isoformat(), ends.isoformat())
        for d in clashes:  # a duplicate first: it says the most
            if (d.delegator_id, d.delegate_id, d.starts, d.ends) == wanted:
                raise Conflict(f"delegation {d.id} already lets {delegate_to} act for {delegator} from "
                               f"{starts} until {ends}; nothing was added")
        for d in clashes:
            span = f"from {d.starts} until {d.ends}"
            if d.delegator_id == b:
                raise Conflict(f"{delegator} acts for {delegate_to} {span} (delegation {d.id}); two "
                               "people cannot act for each other on the same days")
            raise Conflict(f"{d.delegate} already acts for {delegator} {span} (delegation {d.id}); one "
                           f"acting official at a time: end it with 'ikuflow delegate revoke {d.id}' "
                           "or choose other dates")
        created_at = now_utc()
        new_id = repo.insert_delegation(con, a, b, starts, ends, created_at)
        repo.bump_version(con)
    return _delegation_dict(repo.Delegation(new_id, a, b, delegator, delegate_to, starts.isoformat(),
                                            ends.isoformat(), created_at))


def list_delegations(person: str | None = None, active_on: date | None = None,
                     url: str | None = None) -> list[dict]:
    """Every delegation, by start date; only those naming ``person`` (as either side) and only
    those that hold on the date ``active_on``, when given."""
    if person is not None:
        person = check_email(person)
    with reading(url) as con:
        if person is not None and repo.person(con, person) is None:
            raise NotFound("person", person, "see 'ikuflow person list'")
        return [_delegation_dict(d) for d in repo.delegations(con, person, active_on)]


def revoke_delegation(delegation_id: int, until: date | None = None, url: str | None = None) -> dict:
    """Remove a delegation, or with ``until`` end it on that day instead (it can only be
    shortened). History rows keep their names: they hold e-mails, not the delegation's id."""
    with transaction(url) as con:
        row = repo.delegation(con, delegation_id, lock=True)
        if row is None:
            raise NotFound("delegation", str(delegation_id), "see 'ikuflow delegate list'")
        out = _delegation_dict(row)
        if until is None:
            repo.delete_delegation(con, delegation_id)
            out["removed"], out["changes"] = True, {}
        else:
            starts, ends = date.fromisoformat(row.starts), date.fromisoformat(row.ends)
            if until < starts:
                raise UsageError(f"delegation {delegation_id} starts on {starts}, after --until "
                                 f"{until}; to remove it, leave out --until")
            if until > ends:
                raise UsageError(f"delegation {delegation_id} ends on {ends} already; revoke only "
                                 "shortens it: to extend it, revoke it and add a new one")
            out["removed"], out["until"] = False, until.isoformat()
            out["changes"] = {} if until == ends else {
                "until": {"from": ends.isoformat(), "to": until.isoformat()}}
            if until == ends:
                return out
            repo.end_delegation(con, delegation_id, until)
        repo.bump_version(con)
    return out


# --- import -------------------------------------------------------------------------------------
def import_file(path: str | Path, url: str | None = None) -> dict:
    """Check ``path`` whole (any problem: ImportProblems, nothing written), then apply it in one
    transaction through the same writer as the single commands. Returns what was created and
    updated."""
    from ikuflow.directory_import import ImportProblems, check, parents_first, read

    path = Path(path)
    rows = read(path)
    with reading(url) as con:
        known_offices = repo.office_parents(con)
        known_divisions = {d.code for d in repo.divisions(con)}
    problems = check(path, rows, known_offices, known_divisions)
    if problems:
        raise ImportProblems(problems)
    counts = {"offices_created": 0, "offices_updated": 0, "divisions_created": 0,
              "divisions_updated": 0, "people_created": 0, "people_updated": 0, "roles_added": 0}

    def count(kind: str, created: bool, changes: dict) -> None:
        if created:
            counts[f"{kind}_created"] += 1
        elif changes:
            counts[f"{kind}_updated"] += 1

    with transaction(url) as con:
        for rec in parents_first([rec for _, rec in rows.offices]):
            # only what the file gives changes (see directory_import's docstring)
            _, created, changes = _put_office(
                con, rec["code"], rec["name"], zone(rec["tz"]).key if rec.get("tz") else None,
                (rec["parent"] or "") if "parent" in rec else None, rec.get("level") or None)
            count("offices", created, changes)
        for _, rec in rows.divisions:
            count("divisions", *_put_division(con, rec["code"], rec["name"]))
        ids: dict[str, int] = {}
        for _, email, name, role, office, division in rows.people:
            email = email.lower()
            if email not in ids:
                ids[email], _, created, changes = _put_person(con, email, name)
                count("people", created, changes)
            if _put_role(con, ids[email], role, office, division):
                counts["roles_added"] += 1
        if any(counts.values()):
            repo.bump_version(con)
    return {"file": str(path), **counts, "changed": any(counts.values())}
