"""The ``ikuflow`` command line: argument parsing and output only, no business logic.

Command modules import nothing heavy at module level (no SQLAlchemy, APScheduler, Jinja2 or
aiosmtplib, not even Rich), so ``ikuflow --help`` starts fast; each command imports what it
uses. ``main`` turns every :class:`ikuflow.errors.IkuflowError` into one clear line on
stderr and its exit code.
"""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

from ikuflow.cli import directory, documents, evidence, outbox, tokens, web, workflow
from ikuflow.errors import IkuflowError

HELP = """ikuflow moves IKU documents through their approval workflow
(draft -> division_review -> synchronized -> chair_approved -> signed)
and makes sure nobody misses the signing date.

Start with 'ikuflow init', add offices and people, then 'ikuflow new' and
'ikuflow advance'. 'ikuflow demo' walks a document from draft to signed.

Exit codes: 0 ok, 1 other error (an invalid workflow file included), 2 usage error,
3 unknown document/office/division/person/event, 4 event not allowed now or a guard
failed, 5 the actor lacks the role, 6 conflict (the document changed; retry).
'verify FILE' exits 3 for bytes no document has; 'audit verify' exits 1 for an altered
history.

Environment: IKUFLOW_DATABASE_URL (default sqlite:///ikuflow.db), IKUFLOW_USER (the
actor for new/advance), IKUFLOW_WORKFLOWS (the workflow folder), IKUFLOW_TZ (zone
of --at values without an offset, default Asia/Jakarta), IKUFLOW_SERVER and
IKUFLOW_TOKEN (status, list, history, overdue, report and advance through the API of
'ikuflow web' as the token's person)."""



class _Group(TyperGroup):
    """Turns an ikuflow error anywhere below into one line on stderr and its exit code."""

    def parse_args(self, ctx, args):
        # An argument that is not UTF-8 (a Latin-1 file name, a stray byte) reaches Python as
        # lone surrogates that no database, file or e-mail can hold: refuse it here, by name.
        for arg in args:
            if _not_text(arg):
                shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                typer.echo(f"error: argument '{shown}' is not valid "
                           "UTF-8 text; retype it or set a UTF-8 locale", err=True)
                raise typer.Exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except IkuflowError as exc:
            typer.echo(_message(exc), err=True)
            raise typer.Exit(exc.exit_code) from None
        except UnicodeEncodeError as exc:
            if "surrogates" not in str(exc):
                raise
            # the same, from the environment (IKUFLOW_USER, --as via its envvar)
            typer.echo("error: a value from the command line or the environment is not valid UTF-8 "
                       "text; retype it or set a UTF-8 locale", err=True)
            raise typer.Exit(2) from None
        except Exception as exc:  # a database error is the operator's to fix, not a traceback
            # The store translates its drivers' errors where they arise; this is the net for one
            # that got past it (read from a result row, or on SQLAlchemy's and Alembic's paths),
            # which the store names too: the CLI knows no driver.
            from ikuflow.store.db import driver_error

            known = driver_error(exc)
            if known is None:
                raise
            typer.echo(_message(known), err=True)
            raise typer.Exit(known.exit_code) from None


def _message(exc: IkuflowError) -> str:
    """One line, or for a file's problems a head line and one line per problem."""
    from ikuflow.cli.common import one_line

    problems = getattr(exc, "problems", None)
    if problems:
        head = str(exc).split("\n", 1)[0]
        return "\n".join([f"error: {one_line(head)}"] + [f"  {one_line(str(p))}" for p in problems])
    return f"error: {one_line(str(exc))}"


def _not_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


app = typer.Typer(cls=_Group, help=HELP, rich_markup_mode=None, no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False,
                  context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(workflow.app, name="workflow")
app.add_typer(directory.office_app, name="office")
app.add_typer(directory.division_app, name="division")
app.add_typer(directory.person_app, name="person")
app.add_typer(outbox.app, name="outbox")
app.add_typer(tokens.app, name="token")
directory.register(app)
documents.register(app)
evidence.register(app)
app.command("web")(web.web)


@app.callback()
def _root(db: str = typer.Option(None, "--db", metavar="URL", envvar="IKUFLOW_DATABASE_URL",
                                 help="Database URL (default sqlite:///ikuflow.db).")) -> None:
    if db:
        os.environ["IKUFLOW_DATABASE_URL"] = db


def main(argv: list[str] | None = None) -> None:
    """The console script."""
    try:
        app(args=argv, prog_name="ikuflow")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
