"""``ikuflow init`` and the directory: ``office``, ``division``, ``person``."""

from __future__ import annotations

from pathlib import Path

import typer

from ikuflow.cli.common import JSON_OPT, emit_json, say, table

office_app = typer.Typer(help="Offices (Bawaslu RI, provinces, regencies and cities).",
                         no_args_is_help=True, rich_markup_mode=None)
division_app = typer.Typer(help="Divisions inside every office (sdmo, hukum, ...).",
                           no_args_is_help=True, rich_markup_mode=None)
person_app = typer.Typer(help="People and their roles (coordinator, secretariat, chair, admin).",
                         no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("backup", epilog="Example: ikuflow backup /var/backups/ikuflow-$(date +%F).db")(backup)
    app.command("delegate", epilog="Example: ikuflow delegate ahmad@pacitan.example.id --to "
                                   "rudi@pacitan.example.id --from 2026-01-20 --until 2026-01-31")(delegate)
    app.command("import", epilog="Examples: ikuflow import examples/directory.yaml; "
                                 "ikuflow import examples/offices-id.csv")(import_)


def import_(file: str = typer.Argument(..., metavar="FILE", help="A .yaml or .csv directory file."),
            as_json: bool = JSON_OPT) -> None:
    """Create or update offices, divisions and people with their roles from a file.

    The whole file is checked first: any bad row is reported with its line and nothing is
    imported. Importing the same file again changes nothing.
    """
    from pathlib import Path

    from ikuflow.directory_import import import_file

    res = import_file(Path(file))
    if as_json:
        emit_json(res)
        return
    if not res["changed"]:
        say(f"{file}: nothing to change, the directory already matches")
        return
    say(f"{file}: offices {res['offices_created']} created, {res['offices_updated']} updated; "
        f"divisions {res['divisions_created']} created, {res['divisions_updated']} updated; "
        f"people {res['people_created']} created, {res['people_updated']} updated; "
        f"{res['roles_added']} role(s) added")


def init(as_json: bool = JSON_OPT) -> None:
    """Create or upgrade the database, add the five standard divisions, load workflows/.

    Safe to run again: a workflow file whose text changed is stored as a new version;
    documents keep the version they started with.
    """
    from ikuflow.admin import init as do_init

    res = do_init()
    if as_json:
        emit_json(res)
        return
    if res["created"]:
        what = f"created {res['database']} (schema {res['schema']})"
    elif res["schema_before"] != res["schema"]:
        what = f"upgraded {res['database']} (schema {res['schema_before']} -> {res['schema']})"
    else:
        what = f"checked {res['database']} (schema {res['schema']}, up to date)"
    say(f"{what}; workflows: "
        + ", ".join(res["workflows"])
        + (f" (new versions: {', '.join(res['workflows_loaded'])})" if res["workflows_loaded"] else ""))


def backup(file: Path = typer.Argument(..., metavar="FILE", help="The new backup file (never overwritten)."),
           as_json: bool = JSON_OPT) -> None:
    """Copy the SQLite database to FILE while ikuflow keeps running (SQLite's online backup).

    The copy is checked (PRAGMA quick_check) and appears under FILE only when complete.
    Restore by stopping ikuflow and copying FILE over the database. For PostgreSQL use pg_dump.
    """
    from ikuflow.store.db import backup as do_backup

    res = do_backup(file)
    if as_json:
        emit_json(res)
    else:
        say(f"backed up {res['documents']} document(s) to {res['backup']} ({res['bytes']:,} bytes)")


@office_app.command("add")
def office_add(code: str = typer.Argument(..., help="Short code, e.g. pacitan."),
               name: str = typer.Option(..., "--name", help="Full name of the office."),
               tz: str = typer.Option("Asia/Jakarta", "--tz",
                                      help="Time zone: WIB/Asia/Jakarta, WITA/Asia/Makassar, WIT/Asia/Jayapura."),
               parent: str = typer.Option(None, "--parent", help="Code of the parent office."),
               as_json: bool = JSON_OPT) -> None:
    """Add an office, or update it if the code exists."""
    from ikuflow.admin import add_office

    res = add_office(code, name, tz, parent)
    emit_json(res) if as_json else say(
        f"{'added' if res['created'] else 'updated'} office {code} ({res['tz']})")


@office_app.command("list")
def office_list(as_json: bool = JSON_OPT) -> None:
    """List the offices."""
    from ikuflow.service import Service

    svc = Service()
    rows = svc.con.execute("SELECT code, name, tz, parent, level FROM office ORDER BY code").fetchall()
    svc.close()
    if as_json:
        emit_json([dict(zip(("code", "name", "tz", "parent", "level"), r)) for r in rows])
    else:
        table(f"{len(rows)} offices", ["code", "name", "time zone", "parent", "level"], rows)


@division_app.command("add")
def division_add(code: str = typer.Argument(..., help="Short code, e.g. hukum."),
                 name: str = typer.Option(..., "--name", help="Name of the division."),
                 as_json: bool = JSON_OPT) -> None:
    """Add a division, or rename it if the code exists."""
    from ikuflow.admin import add_division

    res = add_division(code, name)
    emit_json(res) if as_json else say(f"{'added' if res['created'] else 'updated'} division {code}")


@division_app.command("list")
def division_list(as_json: bool = JSON_OPT) -> None:
    """List the divisions."""
    from ikuflow.service import Service

    svc = Service()
    rows = svc.con.execute("SELECT code, name FROM division ORDER BY code").fetchall()
    svc.close()
    if as_json:
        emit_json([{"code": c, "name": n} for c, n in rows])
    else:
        table(None, ["code", "name"], rows)


@person_app.command("add")
def person_add(email: str = typer.Argument(..., help="E-mail address: the person's identity."),
               name: str = typer.Option(None, "--name", help="Full name (required for a new person)."),
               role: str = typer.Option(..., "--role", help="coordinator, secretariat, chair or admin."),
               office: str = typer.Option(..., "--office", help="Office code where the role holds."),
               division: str = typer.Option(None, "--division", help="Division code (coordinators only)."),
               as_json: bool = JSON_OPT) -> None:
    """Add a person with a role at an office; run again to give them another role."""
    from ikuflow.admin import add_person

    res = add_person(email, name, role, office, division or None)  # --division "": no division
    if as_json:
        emit_json(res)
    else:
        scope = office + (f"/{division}" if division else "")
        say(f"{res['email']} is {role} of {scope}" + ("" if res["created"] else " (already)"))


@person_app.command("list")
def person_list(office: str = typer.Option(None, "--office", help="Only this office."),
                as_json: bool = JSON_OPT) -> None:
    """List people and their roles."""
    from ikuflow.service import Service

    svc = Service()
    sql = ("SELECT p.email, p.name, ra.role, ra.office_code, ra.division_code FROM person p"
           " LEFT JOIN role_assignment ra ON ra.person_id = p.id"
           + (" WHERE ra.office_code = ?" if office else "") + " ORDER BY p.email, ra.role")
    rows = svc.con.execute(sql, (office,) if office else ()).fetchall()
    svc.close()
    if as_json:
        emit_json([dict(zip(("email", "name", "role", "office", "division"), r)) for r in rows])
    else:
        table(None, ["e-mail", "name", "role", "office", "division"], rows)


def delegate(email: str = typer.Argument(..., help="Who is away (the official whose roles are lent)."),
             to: str = typer.Option(..., "--to", metavar="EMAIL", help="The acting official (Plt/Plh)."),
             start: str = typer.Option(..., "--from", metavar="YYYY-MM-DD", help="First day, inclusive."),
             until: str = typer.Option(..., "--until", metavar="YYYY-MM-DD", help="Last day, inclusive."),
             as_json: bool = JSON_OPT) -> None:
    """Let an acting official (Plt/Plh) act for someone between two dates.

    While it holds (dates in each document's office zone), the delegate may fire the events the
    delegator's roles allow and receives their reminders; history records both names. Outside
    the dates it gives nothing.
    """
    from ikuflow.admin import delegate as do_delegate
    from ikuflow.calendar import parse_date

    res = do_delegate(email, to, parse_date(start, "--from date"), parse_date(until, "--until date"))
    emit_json(res) if as_json else say(f"{res['delegate']} acts for {res['delegator']} from "
                                       f"{res['from']} until {res['until']}")
