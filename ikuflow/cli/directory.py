"""``ikuflow init`` and the directory: ``office``, ``division``, ``person``, ``delegate``."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from ikuflow.cli.common import INT_MAX, JSON_OPT, emit_json, say, table

office_app = typer.Typer(help="Offices (Bawaslu RI, provinces, regencies and cities).",
                         no_args_is_help=True, rich_markup_mode=None)
division_app = typer.Typer(help="Divisions inside every office (sdmo, hukum, ...).",
                           no_args_is_help=True, rich_markup_mode=None)
person_app = typer.Typer(help="People and their roles (coordinator, secretariat, chair, admin).",
                         no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    """Add the directory commands to ``app``."""
    app.command("init")(init)
    app.command("backup", epilog="Example: ikuflow backup /var/backups/ikuflow-$(date +%F).db")(backup)
    app.add_typer(delegate_app, name="delegate")
    app.command("import", epilog="Examples: ikuflow import examples/directory.yaml; "
                                 "ikuflow import examples/offices-id.csv")(import_)


def changes_text(changes: dict) -> str:
    """``name 'A' -> 'B', tz Asia/Jakarta -> Asia/Makassar, parent jawa-timur -> (none)``: what an
    update changed (names quoted: they have spaces)."""
    def shown(field: str, value) -> str:
        return "(none)" if value is None else f"'{value}'" if field == "name" else str(value)

    return ", ".join(f"{field} {shown(field, c['from'])} -> {shown(field, c['to'])}"
                     for field, c in changes.items())


def _updated(what: str, res: dict) -> str:
    if not res["changes"]:
        return f"{what}: nothing to change"
    return f"updated {what}: {changes_text(res['changes'])}"


def import_(file: str = typer.Argument(..., metavar="FILE", help="A .yaml or .csv directory file."),
            as_json: bool = JSON_OPT) -> None:
    """Create or update offices, divisions and people with their roles from a file.

    The whole file is checked first: any bad row is reported with its line and nothing is
    imported. Importing the same file again changes nothing.
    """
    from pathlib import Path

    from ikuflow.app.directory import import_file

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
    if res["secret_key_created"]:
        say(f"secret key: generated {res['secret_key']} (owner-only); it signs e-mail links and web "
            "sessions and keys the history chain: keep it, and a copy apart from the backups, and give "
            "every 'ikuflow web' node the same one")
    else:
        say(f"secret key: {res['secret_key']}")


def backup(file: Path = typer.Argument(..., metavar="FILE", help="The new backup file (never overwritten)."),
           as_json: bool = JSON_OPT) -> None:
    """Copy the SQLite database to FILE while ikuflow keeps running (SQLite's online backup), and
    its documents' files (the folder DATABASE.files) to FILE.files.

    The copy is checked (PRAGMA quick_check) and appears under FILE only when complete.
    Restore by stopping ikuflow and copying FILE over the database and FILE.files over
    DATABASE.files. For PostgreSQL use pg_dump (the files are in the database there).
    """
    from ikuflow.store.content import copy_files
    from ikuflow.store.db import backup as do_backup, database_url, sqlite_path

    res = do_backup(file)
    res["content_files"] = copy_files(sqlite_path(database_url()), res["backup"])
    if as_json:
        emit_json(res)
    else:
        say(f"backed up {res['documents']} document(s) to {res['backup']} ({res['bytes']:,} bytes)"
            + (f" and {res['content_files']} content file(s) to {res['backup']}.files" if res["content_files"] else ""))


@office_app.command("add", epilog="Examples: ikuflow office add pacitan --name \"Bawaslu Kabupaten "
                                  "Pacitan\" --parent jawa-timur; ikuflow office add badung --tz WITA "
                                  "(changes only the zone); ikuflow office add ri --no-parent")
def office_add(code: str = typer.Argument(..., help="Short code, e.g. pacitan."),
               name: str = typer.Option(None, "--name", help="Full name of the office (required for a new one)."),
               tz: str = typer.Option(None, "--tz", help="Time zone: WIB/Asia/Jakarta, WITA/Asia/Makassar, "
                                                        "WIT/Asia/Jayapura (a new office: WIB)."),
               parent: str = typer.Option(None, "--parent", help="Code of the parent office "
                                                                "(--parent \"\" is the same as --no-parent)."),
               no_parent: bool = typer.Option(False, "--no-parent", help="Remove the parent: the office is at "
                                                                         "the top (the national office)."),
               as_json: bool = JSON_OPT) -> None:
    """Add an office, or change an existing one.

    On an existing office only what you give changes: --name, --tz, --parent or --no-parent;
    the rest stays as it is, and the command prints what changed. A new office needs --name and
    gets WIB and no parent unless you give them.
    """
    from ikuflow.app.directory import add_office
    from ikuflow.errors import UsageError

    if no_parent and parent:
        raise UsageError("give either --parent CODE or --no-parent, not both")
    res = add_office(code, name, tz, "" if no_parent else parent)
    if as_json:
        emit_json(res)
    elif res["created"]:
        say(f"added office {code} ({res['tz']}" + (f", parent {res['parent']})" if res["parent"] else ")"))
    else:
        say(_updated(f"office {code}", res))


@office_app.command("list")
def office_list(as_json: bool = JSON_OPT) -> None:
    """List the offices."""
    from ikuflow.app.directory import list_offices

    rows = list_offices()
    if as_json:
        emit_json([r._asdict() for r in rows])
    else:
        table(f"{len(rows)} offices", ["code", "name", "time zone", "parent", "level"], rows)


@division_app.command("add")
def division_add(code: str = typer.Argument(..., help="Short code, e.g. hukum."),
                 name: str = typer.Option(..., "--name", help="Name of the division."),
                 as_json: bool = JSON_OPT) -> None:
    """Add a division, or rename it if the code exists (the command prints what changed)."""
    from ikuflow.app.directory import add_division

    res = add_division(code, name)
    if as_json:
        emit_json(res)
    elif res["created"]:
        say(f"added division {code}")
    else:
        say(_updated(f"division {code}", res))


@division_app.command("list")
def division_list(as_json: bool = JSON_OPT) -> None:
    """List the divisions."""
    from ikuflow.app.directory import list_divisions

    rows = list_divisions()
    if as_json:
        emit_json([r._asdict() for r in rows])
    else:
        table(None, ["code", "name"], rows)


@person_app.command("add")
def person_add(email: str = typer.Argument(..., help="E-mail address: the person's identity."),
               name: str = typer.Option(None, "--name", help="Full name (required for a new person; "
                                                           "for a known one it renames them)."),
               role: str = typer.Option(..., "--role", help="coordinator, secretariat, chair or admin."),
               office: str = typer.Option(..., "--office", help="Office code where the role holds."),
               division: str = typer.Option(None, "--division", help="Division code (coordinators only)."),
               as_json: bool = JSON_OPT) -> None:
    """Add a person with a role at an office; run again to give them another role.

    For a person already in the directory it says what changed: renamed (when --name differs),
    role added, or role already held. 'ikuflow person remove-role' takes a role away.
    """
    from ikuflow.app.directory import add_person, scope_of

    res = add_person(email, name, role, office, division or None)  # --division "": no division
    if as_json:
        emit_json(res)
        return
    scope = scope_of(office, res["division"])
    if res["person_created"]:
        say(f"added {res['email']} ({res['name']}) as {role} of {scope}")
        return
    parts = [f"renamed from '{c['from']}' to '{c['to']}'" for c in res["changes"].values()]
    parts.append(f"role added: {role} of {scope}" if res["created"] else f"already {role} of {scope}")
    say(f"{res['email']}: " + "; ".join(parts))


@person_app.command("remove-role", epilog="Example: ikuflow person remove-role sri@pacitan.example.id "
                                          "--role coordinator --office pacitan --division sdmo")
def person_remove_role(email: str = typer.Argument(..., help="E-mail address of the person."),
                       role: str = typer.Option(..., "--role", help="coordinator, secretariat, chair or admin."),
                       office: str = typer.Option(..., "--office", help="Office code where the role holds."),
                       division: str = typer.Option(None, "--division", help="Division code (coordinators only)."),
                       as_json: bool = JSON_OPT) -> None:
    """Take a role away from a person; the person stays in the directory (history names them).

    A role the person does not hold there is exit 3. The command says when nobody holds the
    role there any more (documents waiting for it then have nobody to act).
    """
    from ikuflow.app.directory import remove_role, scope_of

    res = remove_role(email, role, office, division or None)
    if as_json:
        emit_json(res)
        return
    scope = scope_of(office, res["division"])
    say(f"{res['email']} is no longer {role} of {scope}"
        + (f"; {scope} has no {role} now" if res["vacant"] else ""))


@person_app.command("list")
def person_list(office: str = typer.Option(None, "--office", help="Only this office."),
                as_json: bool = JSON_OPT) -> None:
    """List people and their roles."""
    from ikuflow.app.directory import list_people

    rows = list_people(office or None)
    if as_json:
        emit_json([r._asdict() for r in rows])
    else:
        table(None, ["e-mail", "name", "role", "office", "division"], rows)


class _DelegateGroup(TyperGroup):
    """``delegate EMAIL --to ...`` adds a delegation (the form of the product contract);
    ``delegate list`` and ``delegate revoke ID`` are subcommands. A first argument that names a
    subcommand goes to it; anything else is the adding form's."""

    allow_interspersed_args = True  # EMAIL then --to ...: the options after the argument too

    def parse_args(self, ctx, args):
        if args and args[0] in self.commands:
            ctx.params.update({p.name: None for p in self.params if p.name})
            ctx._protected_args, ctx.args = args[:1], args[1:]
            return ctx.args
        return super().parse_args(ctx, args)

    def get_params(self, ctx):
        params = super().get_params(ctx)
        if ctx.command is not self:  # a subcommand's usage line: 'ikuflow delegate list', no EMAIL
            return [p for p in params if p.param_type_name != "argument"]
        return params

    def collect_usage_pieces(self, ctx) -> list[str]:
        return ["EMAIL --to EMAIL --from DATE --until DATE | list [OPTIONS] | revoke ID [OPTIONS]"]


DELEGATE_HELP = """Acting officials (Plt/Plh): add, list and revoke delegations.

\b
  ikuflow delegate EMAIL --to EMAIL --from DATE --until DATE [--json]
  ikuflow delegate list [--person EMAIL] [--active-on DATE] [--json]
  ikuflow delegate revoke ID [--until DATE] [--json]

The first form lets --to act for EMAIL between two dates (both inclusive, in each document's
office zone): the delegate may fire the events the delegator's roles allow and receives their
reminders; history records both names. Outside the dates it gives nothing. One acting official
at a time: a delegation of the same person on overlapping days (a duplicate included), or two
people acting for each other on the same days, is refused with exit 6; acting for oneself and
--until before --from are exit 2.

'list' shows every delegation (id, delegator, delegate, from, until), or those naming --person
or holding on --active-on. 'revoke ID' removes one (a mistyped date, say); with --until DATE it
ends on that day instead (an official back early). History keeps the names either way."""


delegate_app = typer.Typer(cls=_DelegateGroup, invoke_without_command=True, no_args_is_help=False,
                           rich_markup_mode=None, help=DELEGATE_HELP,
                           epilog="Example: ikuflow delegate ahmad@pacitan.example.id --to "
                                  "rudi@pacitan.example.id --from 2026-01-20 --until 2026-01-31")


@delegate_app.callback()
def delegate(ctx: typer.Context,
             email: str = typer.Argument(..., metavar="EMAIL", help="Who is away (the official whose roles are lent)."),
             to: str = typer.Option(..., "--to", metavar="EMAIL", help="The acting official (Plt/Plh)."),
             start: str = typer.Option(..., "--from", metavar="YYYY-MM-DD", help="First day, inclusive."),
             until: str = typer.Option(..., "--until", metavar="YYYY-MM-DD", help="Last day, inclusive."),
             as_json: bool = JSON_OPT) -> None:
    """Let an acting official (Plt/Plh) act for someone between two dates."""
    if ctx.invoked_subcommand is not None:
        return
    from ikuflow.app.directory import delegate as do_delegate
    from ikuflow.calendar import parse_date

    res = do_delegate(email, to, parse_date(start, "--from date"), parse_date(until, "--until date"))
    emit_json(res) if as_json else say(f"{res['delegate']} acts for {res['delegator']} from "
                                       f"{res['from']} until {res['until']} (delegation {res['id']})")


@delegate_app.command("list", epilog="Examples: ikuflow delegate list --active-on 2026-01-27; "
                                     "ikuflow delegate list --person ahmad@pacitan.example.id --json")
def delegate_list(person: str = typer.Option(None, "--person", metavar="EMAIL",
                                             help="Only delegations by or to this person."),
                  active_on: str = typer.Option(None, "--active-on", metavar="YYYY-MM-DD",
                                                help="Only delegations that hold on this day."),
                  as_json: bool = JSON_OPT) -> None:
    """List delegations (acting officials): id, delegator, delegate, from, until."""
    from ikuflow.app.directory import list_delegations
    from ikuflow.calendar import parse_date

    day = parse_date(active_on, "--active-on date") if active_on is not None else None
    rows = list_delegations(person, day)
    if as_json:
        emit_json(rows)
    else:
        table(f"{len(rows)} delegation(s)", ["id", "delegator", "acting official", "from", "until"],
              [(r["id"], r["delegator"], r["delegate"], r["from"], r["until"]) for r in rows])


@delegate_app.command("revoke", epilog="Examples: ikuflow delegate revoke 3; "
                                       "ikuflow delegate revoke 3 --until 2026-01-24")
def delegate_revoke(delegation_id: int = typer.Argument(..., metavar="ID", min=1, max=INT_MAX,
                                                        help="The delegation's id (see 'ikuflow delegate list')."),
                    until: str = typer.Option(None, "--until", metavar="YYYY-MM-DD",
                                              help="End it on this day instead of removing it (only earlier)."),
                    as_json: bool = JSON_OPT) -> None:
    """Remove a delegation, or end it early with --until.

    History rows of steps taken under it keep both names.
    """
    from ikuflow.app.directory import revoke_delegation
    from ikuflow.calendar import parse_date

    res = revoke_delegation(delegation_id, parse_date(until, "--until date") if until is not None else None)
    if as_json:
        emit_json(res)
        return
    who = f"{res['delegate']} for {res['delegator']}"
    if res["removed"]:
        say(f"removed delegation {res['id']} ({who}, {res['from']} until {res['until']})")
    elif res["changes"]:
        c = res["changes"]["until"]
        say(f"delegation {res['id']} ({who}) now ends on {c['to']} (was {c['from']})")
    else:
        say(f"delegation {res['id']} ({who}) ends on {res['until']} already: nothing to change")
