"""The directory repository: every SQL statement about offices, divisions, people, their role
assignments, delegations (acting officials) and the directory version.

Functions take a connection from :func:`ikuflow.store.db.connect` (inside a
:func:`ikuflow.store.db.write` transaction for the writers) and return named records, never bare
tuples. :func:`bump_version` is the one way the directory version changes: services drop the
people they cached when it moves. The one difference between SQLite and PostgreSQL here is
``FOR UPDATE`` (SQLite's BEGIN IMMEDIATE serializes writers already).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from ikuflow.store.db import dialect, fmt_ts, parse_ts


class Office(NamedTuple):
    code: str
    name: str
    tz: str
    parent: str | None
    level: str


class Division(NamedTuple):
    code: str
    name: str


class Person(NamedTuple):
    id: int
    email: str
    name: str


class Assignment(NamedTuple):
    """One role a person holds at an office (a coordinator's: in one division)."""

    id: int
    role: str
    office: str
    division: str | None


class PersonRole(NamedTuple):
    """A row of the people list: a person and one of their roles (None: they hold none)."""

    email: str
    name: str
    role: str | None
    office: str | None
    division: str | None


class Delegation(NamedTuple):
    id: int
    delegator_id: int
    delegate_id: int
    delegator: str  # e-mail
    delegate: str   # e-mail
    starts: str     # YYYY-MM-DD
    ends: str
    created_at: datetime


# --- the directory version ----------------------------------------------------------------------
def bump_version(con) -> None:
    """Add 1 to the directory version in the database (one statement, not a read then a
    write: two changes at the same time on PostgreSQL bump it twice)."""
    con.execute("INSERT INTO meta (key, value) VALUES ('directory_version', '1')"
                " ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)")


# --- offices ------------------------------------------------------------------------------------
def office(con, code: str) -> Office | None:
    """The office ``code``, or None."""
    row = con.execute("SELECT code, name, tz, parent, level FROM office WHERE code = ?", (code,)).fetchone()
    return Office(*row) if row else None


def offices(con) -> list[Office]:
    """Every office, by code."""
    return [Office(*r) for r in con.execute("SELECT code, name, tz, parent, level FROM office ORDER BY code")]


def office_parents(con) -> dict[str, str | None]:
    """Office code -> its parent's code (None at the top)."""
    return dict(con.execute("SELECT code, parent FROM office").fetchall())


def insert_office(con, row: Office) -> None:
    """Add an office."""
    con.execute("INSERT INTO office (code, name, tz, parent, level) VALUES (?, ?, ?, ?, ?)", tuple(row))


def update_office(con, row: Office) -> None:
    """Store every field of an existing office."""
    con.execute("UPDATE office SET name = ?, tz = ?, parent = ?, level = ? WHERE code = ?",
                (row.name, row.tz, row.parent, row.level, row.code))


# --- divisions ----------------------------------------------------------------------------------
def division(con, code: str) -> Division | None:
    """The division ``code``, or None."""
    row = con.execute("SELECT code, name FROM division WHERE code = ?", (code,)).fetchone()
    return Division(*row) if row else None


def divisions(con) -> list[Division]:
    """Every division, by code."""
    return [Division(*r) for r in con.execute("SELECT code, name FROM division ORDER BY code")]


def insert_division(con, row: Division) -> None:
    """Add a division."""
    con.execute("INSERT INTO division (code, name) VALUES (?, ?)", (row.code, row.name))


def rename_division(con, code: str, name: str) -> None:
    """Give a division a new name."""
    con.execute("UPDATE division SET name = ? WHERE code = ?", (name, code))


# --- people and their roles ---------------------------------------------------------------------
def person(con, email: str) -> Person | None:
    """The person with this (lower-case) e-mail, or None."""
    row = con.execute("SELECT id, email, name FROM person WHERE email = ?", (email,)).fetchone()
    return Person(*row) if row else None


def insert_person(con, email: str, name: str) -> int:
    """Add a person; their new id."""
    return con.execute("INSERT INTO person (email, name) VALUES (?, ?) RETURNING id", (email, name)).fetchone()[0]


def rename_person(con, person_id: int, name: str) -> None:
    """Give a person a new name."""
    con.execute("UPDATE person SET name = ? WHERE id = ?", (name, person_id))


def lock_pair(con, first: str, second: str) -> dict[str, int]:
    """E-mail -> id of those of the two people in the directory, their rows locked in id order
    on PostgreSQL (two writers involving the same people go one after the other)."""
    sql = "SELECT id, email FROM person WHERE email IN (?, ?) ORDER BY id" + (" FOR UPDATE" if dialect(con) == "postgresql" else "")
    return {email: pid for pid, email in con.execute(sql, (first, second))}


def assignments(con, person_id: int) -> list[Assignment]:
    """The roles a person holds, by office, role and division."""
    return [Assignment(*r) for r in con.execute(
        "SELECT id, role, office_code, division_code FROM role_assignment WHERE person_id = ?"
        " ORDER BY office_code, role, division_code", (person_id,))]


def has_role(con, person_id: int, role: str, office_code: str, division_code: str | None) -> bool:
    """Whether the person holds ``role`` at this office (and division)."""
    return con.execute("SELECT 1 FROM role_assignment WHERE person_id = ? AND role = ? AND"
                       " office_code = ? AND division_code IS NOT DISTINCT FROM ?",
                       (person_id, role, office_code, division_code)).fetchone() is not None


def add_role(con, person_id: int, role: str, office_code: str, division_code: str | None) -> None:
    """Give a person a role at an office."""
    con.execute("INSERT INTO role_assignment (person_id, role, office_code, division_code)"
                " VALUES (?, ?, ?, ?)", (person_id, role, office_code, division_code))


def delete_role(con, assignment_id: int) -> None:
    """Take one role assignment away."""
    con.execute("DELETE FROM role_assignment WHERE id = ?", (assignment_id,))


def role_vacant(con, role: str, office_code: str, division_code: str | None) -> bool:
    """Whether nobody holds ``role`` at this office (and division)."""
    return con.execute("SELECT 1 FROM role_assignment WHERE role = ? AND office_code = ? AND"
                       " division_code IS NOT DISTINCT FROM ?",
                       (role, office_code, division_code)).fetchone() is None


def people_roles(con, office_code: str | None = None) -> list[PersonRole]:
    """Every person with each of their roles (one row each), by e-mail and role; only the
    roles at ``office_code`` when given."""
    sql = ("SELECT p.email, p.name, ra.role, ra.office_code, ra.division_code FROM person p"
           " LEFT JOIN role_assignment ra ON ra.person_id = p.id"
           + (" WHERE ra.office_code = ?" if office_code else "") + " ORDER BY p.email, ra.role")
    return [PersonRole(*r) for r in con.execute(sql, (office_code,) if office_code else ())]


# --- delegations --------------------------------------------------------------------------------
DELEGATION_SQL = ("SELECT d.id, d.delegator_id, d.delegate_id, by_.email, to_.email, d.starts, d.ends,"
                  " d.created_at FROM delegation d JOIN person by_ ON by_.id = d.delegator_id"
                  " JOIN person to_ ON to_.id = d.delegate_id")


def _delegation(row) -> Delegation:
    return Delegation(row[0], row[1], row[2], row[3], row[4], str(row[5]), str(row[6]), parse_ts(row[7]))


def delegation(con, delegation_id: int, lock: bool = False) -> Delegation | None:
    """The delegation ``delegation_id``, or None; with ``lock``, its row locked on PostgreSQL."""
    sql = DELEGATION_SQL + " WHERE d.id = ?" + (" FOR UPDATE OF d" if lock and dialect(con) == "postgresql" else "")
    row = con.execute(sql, (delegation_id,)).fetchone()
    return _delegation(row) if row else None


def delegations(con, email: str | None = None, active_on: date | None = None) -> list[Delegation]:
    """Every delegation by start date and id; only those naming ``email`` (either side) and only
    those that hold on ``active_on``, when given."""
    sql = (DELEGATION_SQL + " WHERE 1 = 1" + (" AND (by_.email = ? OR to_.email = ?)" if email else "")
           + (" AND d.starts <= ? AND d.ends >= ?" if active_on is not None else "")
           + " ORDER BY d.starts, d.id")
    params: tuple = (email, email) if email else ()
    if active_on is not None:
        params += (active_on.isoformat(), active_on.isoformat())
    return [_delegation(r) for r in con.execute(sql, params)]


def delegation_clashes(con, delegator_id: int, delegate_id: int, starts: date, ends: date) -> list[Delegation]:
    """Delegations on days overlapping ``starts``..``ends`` of the same delegator, or of the
    delegate acting the other way round, by start date and id."""
    return [_delegation(r) for r in con.execute(
        DELEGATION_SQL + " WHERE (d.delegator_id = ? OR (d.delegator_id = ? AND d.delegate_id = ?))"
        " AND d.starts <= ? AND d.ends >= ? ORDER BY d.starts, d.id",
        (delegator_id, delegate_id, delegator_id, ends.isoformat(), starts.isoformat()))]


def insert_delegation(con, delegator_id: int, delegate_id: int, starts: date, ends: date,
                      created_at: datetime) -> int:
    """Add a delegation; its new id."""
    return con.execute("INSERT INTO delegation (delegator_id, delegate_id, starts, ends, created_at)"
                       " VALUES (?, ?, ?, ?, ?) RETURNING id",
                       (delegator_id, delegate_id, starts.isoformat(), ends.isoformat(),
                        fmt_ts(created_at))).fetchone()[0]


def delete_delegation(con, delegation_id: int) -> None:
    """Remove a delegation."""
    con.execute("DELETE FROM delegation WHERE id = ?", (delegation_id,))


def end_delegation(con, delegation_id: int, ends: date) -> None:
    """Move a delegation's last day."""
    con.execute("UPDATE delegation SET ends = ? WHERE id = ?", (ends.isoformat(), delegation_id))


# --- what the document use cases read: who holds which role, who acts for whom ------------------
class Holder(NamedTuple):
    """A person holding a role at an office (a coordinator's: in one division)."""

    email: str
    name: str
    role: str
    division: str | None


class Actor(NamedTuple):
    """One of a person's role assignments (role None: they hold none), with their name."""

    role: str | None
    office: str | None
    division: str | None
    name: str


def version(con) -> str | None:
    """The directory version (see :func:`bump_version`)."""
    row = con.execute("SELECT value FROM meta WHERE key = 'directory_version'").fetchone()
    return row[0] if row else None


def everyone(con) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """(email, name, role, office, division) of every person and role assignment (role None for
    a person who holds none): the whole directory of people in one read."""
    return con.execute("SELECT p.email, p.name, ra.role, ra.office_code, ra.division_code FROM person p"
                       " LEFT JOIN role_assignment ra ON ra.person_id = p.id").fetchall()


def delegators(con, delegate: str, day: date) -> list[str]:
    """The e-mails of the people ``delegate`` acts for on ``day``, oldest delegation first."""
    d = day.isoformat()
    return [r[0] for r in con.execute(
        "SELECT p.email FROM delegation d JOIN person p ON p.id = d.delegator_id"
        " JOIN person a ON a.id = d.delegate_id WHERE a.email = ? AND d.starts <= ? AND d.ends >= ?"
        " ORDER BY d.id", (delegate, d, d))]


def acting(con, first: date, last: date) -> dict[str, list[tuple[str, str, str, str]]]:
    """delegator e-mail -> [(delegate e-mail, name, starts, ends)] of the delegations holding on
    any day from ``first`` to ``last``."""
    out: dict[str, list[tuple[str, str, str, str]]] = {}
    for delegator, email, name, starts, ends in con.execute(
            "SELECT p.email, a.email, a.name, d.starts, d.ends FROM delegation d"
            " JOIN person p ON p.id = d.delegator_id JOIN person a ON a.id = d.delegate_id"
            " WHERE d.starts <= ? AND d.ends >= ?", (last.isoformat(), first.isoformat())):
        out.setdefault(delegator, []).append((email, name, str(starts), str(ends)))
    return out
